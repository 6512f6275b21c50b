"""How close training and inference come to this machine's limit, per precision and backend.

In one run: the machine's fp32 channels-last 3x3-conv peak and matmul peak (``peak.py``; bf16
too where the CPU runs it natively), then

* **training steps** of the paper's model (forward, cross-entropy, backward, Adam) at
  ``--train-sizes`` and ``--batches``: torch fp32 (channels-last, what auto picks on an AVX2
  CPU), torch bf16-mixed where native, and compiled torch with ``--compile``;
* **inference** (``--infer-sizes``, batch ``--infer-batch`` clips): torch fp32, torch bf16 where
  native, ONNX Runtime fp32 and INT8, compiled torch with ``--compile``;

each as achieved GFLOP/s (FLOPs from ``gifemo.models.complexity``: ``clip_flops`` forward,
``train_step_flops`` forward + backward; the same numbers as ``benchmarks/model_flops.py``)
and as a share of the fp32 conv peak, with the goal and how far from it. ``--profile`` adds
the operators that take a training step's time (``torch.profiler``).

    .venv/bin/python benchmarks/efficiency.py [--train-sizes 64,112] [--batches 16,30]
        [--infer-sizes 224,112] [--compile] [--profile] [--threads N]

Set ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` to measure an AVX-512 machine as an
AVX2 one (torch and oneDNN follow them; ONNX Runtime does not: its MLAS kernels pick the ISA from
the CPU itself).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gifemo.hardware import timed_calls

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import conv_peak, matmul_peak  # noqa: E402
from predict import untrained_paper_model  # noqa: E402
from train_step import time_steps  # noqa: E402

MODEL = "resnet_convgru"
#: The issue's goals, as shares of the fp32 conv peak.
GOALS = {"train": 0.70, "infer": 0.80}


def infer_seconds(run, clips, *, repeats: int = 3) -> float:
    """Median seconds of ``run(clips)`` after one warm-up call."""
    return statistics.median(timed_calls(lambda: run(clips), repeats))


def row(kind: str, name: str, gflops: float, peak: float, extra: str = "") -> str:
    share = gflops / peak
    goal = GOALS[kind]
    gap = "goal met" if share >= goal else f"{100 * (goal - share):.0f} points short"
    return f"{name:<44} {gflops:>8.1f} {100 * share:>6.0f}%   {gap:<17} {extra}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--train-sizes", default="64,112")
    parser.add_argument("--batches", default="16,30", help="training batch sizes (clips)")
    parser.add_argument("--infer-sizes", default="224,112")
    parser.add_argument("--infer-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--compile", action="store_true", help="also compiled torch (slow)")
    parser.add_argument("--profile", action="store_true", help="top ops of a training step")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import gifemo
    from gifemo.hardware import benchmark_header, cpu_has_native_bf16
    from gifemo.inference.export import export_onnx
    from gifemo.inference.quantize import export_int8
    from gifemo.models.complexity import clip_flops, meta_model, train_step_flops

    if args.threads:
        torch.set_num_threads(args.threads)
    native_bf16 = cpu_has_native_bf16()
    print(benchmark_header("cpu"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {MODEL}")
    peak = conv_peak("cpu")
    print(f"fp32 3x3-conv peak {peak:.1f} GFLOP/s, fp32 matmul peak {matmul_peak('cpu'):.1f}")
    if native_bf16:
        bf16_peak = conv_peak("cpu", dtype=torch.bfloat16)
        print(f"bf16 3x3-conv peak {bf16_peak:.1f} GFLOP/s (native bf16)")
    meta = meta_model(MODEL, clip_len=4)
    header = f"{'':<44} {'GFLOP/s':>8} {'% peak':>7}   {'goal':<17}"

    print(f"\nTraining steps (goal: >= {100 * GOALS['train']:.0f}% of the fp32 conv peak)")
    print(header)
    settings = [("fp32, channels-last", False, False)]
    if native_bf16:
        settings.append(("bf16-mixed, channels-last", True, False))
    if args.compile:
        settings.append(("fp32, channels-last, compiled", False, True))
    for size in (int(s) for s in args.train_sizes.split(",")):
        per_clip = train_step_flops(meta, clip_len=4, size=size)
        for batch in (int(b) for b in args.batches.split(",")):
            for name, bf16, compiled in settings:
                stats: dict = {}
                seconds = time_steps(
                    MODEL,
                    size=size,
                    batch_size=batch,
                    clip_len=4,
                    bf16=bf16,
                    channels_last=True,
                    steps=args.steps,
                    warmup=2 if compiled else 1,
                    device=torch.device("cpu"),
                    compile=compiled,
                    stats=stats,
                )
                extra = f"{seconds:.2f} s/step, {batch / seconds:.1f} clips/s"
                if compiled:
                    extra += f", compile {stats['first_s']:.0f} s"
                label = f"{size} px, batch {batch}, {name}"
                print(
                    row("train", label, per_clip * batch / seconds / 1e9, peak, extra), flush=True
                )

    print(f"\nInference (goal: >= {100 * GOALS['infer']:.0f}% of the fp32 conv peak)")
    print(header)
    for size in (int(s) for s in args.infer_sizes.split(",")):
        per_clip = clip_flops(meta, clip_len=4, size=size)
        generator = np.random.default_rng(0)
        frames = generator.integers(0, 256, (args.infer_batch, 4, size, size, 3), dtype=np.uint8)
        torch.manual_seed(0)
        trained = untrained_paper_model(size)
        rows = [("torch fp32, channels-last", dict(precision="32"))]
        if native_bf16:
            rows.append(("torch bf16-mixed, channels-last", dict(precision="bf16-mixed")))
        if args.compile:
            rows.append(("torch fp32, channels-last, compiled", dict(precision="32", compile=True)))
        for name, options in rows:
            predictor = gifemo.load(copy.deepcopy(trained), channels_last=True, **options)
            start = time.perf_counter()
            predictor.predict_clips(frames)
            first = time.perf_counter() - start
            seconds = infer_seconds(predictor.predict_clips, frames)
            extra = f"{args.infer_batch / seconds:.1f} clips/s"
            if options.get("compile"):
                extra += f", compile {first:.0f} s"
            label = f"{size} px, {name}"
            print(row("infer", label, per_clip * args.infer_batch / seconds / 1e9, peak, extra))
        with tempfile.TemporaryDirectory() as tmp:
            exported = export_onnx(trained, Path(tmp) / "m.onnx")
            calibration = [frames[i : i + 1] for i in range(len(frames))]
            int8 = export_int8(
                exported.path,
                Path(tmp) / "m.int8.onnx",
                calibration_data=_write_gifs(Path(tmp), calibration),
                calibration_clips=len(frames),
                check_gifs=0,
            )
            for name, path in (
                ("onnxruntime fp32", exported.path),
                ("onnxruntime int8", int8.path),
            ):
                predictor = gifemo.load(path, num_threads=torch.get_num_threads())
                seconds = infer_seconds(predictor.predict_clips, frames)
                extra = f"{args.infer_batch / seconds:.1f} clips/s"
                label = f"{size} px, {name}"
                print(row("infer", label, per_clip * args.infer_batch / seconds / 1e9, peak, extra))

    if args.profile:
        profile_step(int(args.train_sizes.split(",")[0]), int(args.batches.split(",")[0]))
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


def _write_gifs(folder: Path, clips: list[np.ndarray]) -> list[Path]:
    """Each ``(1, T, S, S, 3)`` clip as a small GIF (calibration reads GIFs, as prediction)."""
    from PIL import Image

    paths = []
    for i, clip in enumerate(clips):
        frames = [Image.fromarray(f) for f in clip[0]]
        path = folder / f"calibration-{i}.gif"
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
        paths.append(path)
    return paths


def profile_step(size: int, batch: int) -> None:
    """The operators that take a fp32 channels-last training step's time, by self CPU time."""
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from gifemo.models import create_model

    model = create_model(MODEL, num_classes=7, clip_len=4).train().to_channels_last()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    clips = torch.randn(batch, 4, 3, size, size)
    target = torch.randint(0, 7, (batch,))

    def step():
        loss = F.cross_entropy(model(clips), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    print(f"\nProfile of one training step ({size} px, batch {batch}, fp32, channels-last):")
    print(
        prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40
        )
    )
    by_shape = prof.key_averages(group_by_input_shape=True)
    convs = [e for e in by_shape if "convolution" in e.key]
    convs.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    print("largest convolution calls by input shape (self CPU ms):")
    for event in convs[:8]:
        print(
            f"  {event.key:<32} {str(event.input_shapes)[:70]:<72} "
            f"{event.self_cpu_time_total / 1e3:.0f}"
        )


if __name__ == "__main__":
    main()
