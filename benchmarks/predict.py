"""Prediction speed: torch eager, bf16, compiled, ONNX Runtime fp32 and INT8, on the same GIFs.

For each backend, on the same GIFs in one process (ONNX rows on the CPU only):

* **GIFs/s**: ``predict_many`` over all of them (decode + resize + clips + model), batched;
* **clips/s**: the model alone on the already-decoded clips (batches of ``--batch-size``);
* **latency p50/p95**: ``predict()`` of one GIF at a time (what a service request sees);
* **max |dp|**: the largest GIF-level probability difference from eager fp32, and **top-1**:
  the share of GIFs with eager fp32's top emotion;
* **vs ORT**: clips/s over ONNX Runtime fp32's; **% peak**: the model's achieved GFLOP/s
  (clips/s x FLOPs per clip, ``gifemo.models.complexity``) over this machine's fp32 3x3-conv
  peak measured in the same run (``benchmarks/peak.py``).

The INT8 model is calibrated on the benchmark's own GIFs (``export_int8(calibration_data=...)``);
the compiled row's first batch (the compilation) is timed apart.

A "decode only" row gives the share of the time spent before the model. The model is the
paper's ResNet-ConvGRU (untrained weights unless ``--model`` names a run: speed does not depend
on the weights) at ``--size``. The GIFs default to the 57 noto-emoji-7 GIFs (512 px, 30-116
frames). The machine and its load are printed with the table: numbers from a shared machine are
an upper bound on the time a quiet one needs.

    .venv/bin/python benchmarks/predict.py [--model RUN_DIR] [--gifs DIR] [--limit 16] [--size 224]
        [--threads N] [--batch-size 32] [--device cpu|cuda]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import conv_peak  # noqa: E402

NOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "noto-emoji-7"


def untrained_paper_model(size: int):
    from gifemo.labels import PAPER_EMOTIONS
    from gifemo.preprocess import PreprocessConfig
    from gifemo.training.checkpoint import ModelSpec, TrainedModel

    spec = ModelSpec("resnet_convgru", {}, PAPER_EMOTIONS, PreprocessConfig(size=size, clip_len=4))
    return TrainedModel(
        model=spec.build().eval(),
        labels=spec.labels,
        preprocess=spec.preprocess,
        model_name=spec.model_name,
        model_kwargs={},
        checkpoint_path=Path("<untrained>"),
    )


def time_backend(name, predictor, gifs, prepared, batch_size, latency_gifs, reference):
    import numpy as np

    clips = np.concatenate([p.clip_batch for p in prepared])
    predictor.predict_clips(clips[:batch_size])  # warm-up (allocations, kernel choice, ORT arenas)

    start = time.perf_counter()
    predictor.predict_clips(clips)
    model_s = time.perf_counter() - start

    start = time.perf_counter()
    results = list(predictor.predict_many(gifs, batch_size=batch_size))
    total_s = time.perf_counter() - start

    latencies = []
    for gif in gifs[:latency_gifs]:
        t0 = time.perf_counter()
        predictor.predict(gif)
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    diff = max(
        abs(r.intensities[k] - ref.intensities[k])
        for r, ref in zip(results, reference or results, strict=True)
        for k in r.labels
    )
    return {
        "backend": name,
        "gifs_per_s": len(gifs) / total_s,
        "clips_per_s": len(clips) / model_s,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * p95,
        "max_diff": diff,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, help="Run dir or .ckpt (default: untrained paper model)."
    )
    parser.add_argument(
        "--gifs", type=Path, default=NOTO, help="Folder of GIFs (default: noto-emoji-7)."
    )
    parser.add_argument(
        "--limit", type=int, default=16, help="Use the first N GIFs (sorted by path)."
    )
    parser.add_argument("--size", type=int, default=224, help="Frame size of the untrained model.")
    parser.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency-gifs", type=int, default=8, help="GIFs timed one by one.")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time a compiled torch row (compile time shown apart; minutes on 2 CPU cores)",
    )
    parser.add_argument("--calibration-clips", type=int, default=32, help="INT8 calibration")
    parser.add_argument(
        "--bf16", action="store_true", help="time bf16 even where the CPU emulates it (slow)"
    )
    parser.add_argument(
        "--torch-only", action="store_true", help="eager torch rows only (a quick rehearsal)"
    )
    args = parser.parse_args()

    import onnxruntime
    import torch

    import gifemo
    from gifemo.hardware import benchmark_header, cpu_has_native_bf16
    from gifemo.inference.export import export_onnx
    from gifemo.inference.inputs import find_media_files
    from gifemo.inference.quantize import export_int8
    from gifemo.models.complexity import clip_flops, meta_model
    from gifemo.training.checkpoint import load_trained_model

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    gifs = find_media_files(args.gifs)[: args.limit]
    if not gifs:
        raise SystemExit(f"no GIFs under {args.gifs}")
    trained = load_trained_model(args.model) if args.model else untrained_paper_model(args.size)
    size = trained.preprocess.size

    options = dict(batch_size=args.batch_size, num_threads=threads, device=args.device)
    eager = gifemo.load(trained, **options)
    start = time.perf_counter()
    prepared = [eager.prepare(g) for g in gifs]
    decode_s = time.perf_counter() - start
    n_clips = sum(len(p.clips) for p in prepared)
    n_frames = sum(len(p.frames) for p in prepared)

    def timed(name, predictor, reference_rows=None):
        row = time_backend(
            name,
            predictor,
            gifs,
            prepared,
            args.batch_size,
            args.latency_gifs,
            reference_rows,
        )
        print(f"  {name}: {row['clips_per_s']:.1f} clips/s", file=sys.stderr, flush=True)
        return row

    rows = [timed("torch eager fp32", eager)]
    reference = rows[0]["results"]
    # Copies: channels-last conversion, compilation and device moves change the model in place.
    auto = gifemo.load(copy.deepcopy(trained), **options)
    layout = ", channels-last" if auto.backend.compute.channels_last else ""
    rows.append(timed(f"torch auto ({auto.info.precision}{layout})", auto, reference))
    if args.device != "cpu" or cpu_has_native_bf16() or args.bf16:
        fast = gifemo.load(copy.deepcopy(trained), precision="bf16", channels_last=True, **options)
        rows.append(timed("torch channels_last + bf16", fast, reference))
    else:
        print("  torch bf16: skipped, emulated here (--bf16 times it anyway)", file=sys.stderr)
    if args.compile and not args.torch_only:
        start = time.perf_counter()
        compiled = gifemo.load(copy.deepcopy(trained), compile=True, **options)
        compiled.predict_clips(prepared[0].clip_batch[: args.batch_size])  # compiles
        compile_s = time.perf_counter() - start
        rows.append(timed(f"torch auto, compiled ({compile_s:.0f} s)", compiled, reference))
    if args.device == "cpu" and not args.torch_only:
        with tempfile.TemporaryDirectory() as tmp:
            exported = export_onnx(trained, Path(tmp) / "model.onnx")
            ort = gifemo.load(exported.path, batch_size=args.batch_size, num_threads=threads)
            rows.append(timed("onnxruntime fp32", ort, reference))
            # Calibrated on these GIFs themselves (a run's training GIFs with `gifemo export`).
            int8 = export_int8(
                exported.path,
                Path(tmp) / "model.int8.onnx",
                calibration_data=gifs,
                calibration_clips=args.calibration_clips,
                check_gifs=0,
            )
            quantized = gifemo.load(int8.path, batch_size=args.batch_size, num_threads=threads)
            rows.append(timed("onnxruntime int8", quantized, reference))

    flops = clip_flops(
        meta_model(trained.model_name, num_classes=len(trained.labels), **trained.model_kwargs),
        clip_len=trained.preprocess.clip_len,
        size=size,
    )
    peak = conv_peak(args.device)
    onnx_fp32 = next((r for r in rows if r["backend"] == "onnxruntime fp32"), None)
    print(benchmark_header(args.device))
    print(f"{threads} threads (torch and onnxruntime)")
    print(
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; model "
        f"{trained.model_name} "
        f"at {size} px ({flops / 1e9:.2f} GFLOP per clip forward), clip "
        f"{trained.preprocess.clip_len}, batch {args.batch_size}"
    )
    print(f"measured fp32 3x3-conv peak of this machine: {peak:.1f} GFLOP/s")
    print(
        f"{len(gifs)} GIFs from {args.gifs}: {n_frames} frames, {n_clips} clips; "
        f"decode + resize only: {len(gifs) / decode_s:.2f} GIFs/s"
    )
    print()
    header = (
        f"{'backend':<34} {'GIFs/s':>7} {'clips/s':>8} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'max |dp|':>9} {'top-1':>6} {'vs ORT':>7} {'GFLOP/s':>8} {'% peak':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        agree = sum(
            a.top_label == b.top_label for a, b in zip(r["results"], reference, strict=True)
        ) / len(reference)
        versus = "-" if onnx_fp32 is None else f"{r['clips_per_s'] / onnx_fp32['clips_per_s']:.2f}x"
        gflops = r["clips_per_s"] * flops / 1e9
        print(
            f"{r['backend']:<34} {r['gifs_per_s']:>7.2f} {r['clips_per_s']:>8.1f} "
            f"{r['p50_ms']:>7.0f} {r['p95_ms']:>7.0f} {r['max_diff']:>9.1e} "
            f"{100 * agree:>5.0f}% {versus:>7} {gflops:>8.1f} {100 * gflops / peak:>6.0f}%"
        )
    print(
        "\ntop-1: GIFs whose top emotion equals eager fp32's; vs ORT: clips/s over onnxruntime "
        "fp32's; % peak: the model's GFLOP/s (clips/s x GFLOP per clip) over the conv peak"
    )
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
