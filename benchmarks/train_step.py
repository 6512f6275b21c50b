"""Seconds per training step (forward, cross-entropy, backward, Adam) of a gifemo model.

The paper's batch (30 clips of T=4 frames) at several sizes, in four settings: float32 or
bfloat16 autocast (Lightning's ``bf16-mixed``), contiguous or channels-last weights. Prints the
machine (CPU model, cores, torch threads, load average: the cores may be shared) and the median
step time of ``--steps`` timed steps after ``--warmup`` untimed ones.

    .venv/bin/python benchmarks/train_step.py [--model resnet_convgru] [--sizes 64,112,224]
        [--batch-size 30] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

from gifemo.hardware import benchmark_header, resolve_compute
from gifemo.models import create_model

SETTINGS: tuple[tuple[str, bool, bool], ...] = (
    ("fp32", False, False),
    ("fp32 + channels_last", False, True),
    ("bf16-mixed", True, False),
    ("bf16-mixed + channels_last", True, True),
)


def time_steps(
    model_name: str,
    *,
    size: int,
    batch_size: int,
    clip_len: int,
    bf16: bool,
    channels_last: bool,
    steps: int,
    warmup: int,
    device: torch.device,
) -> float:
    """Median seconds of one optimisation step."""
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=7, clip_len=clip_len).to(device).train()
    if channels_last:
        model.to_channels_last()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    clips = torch.randn(batch_size, clip_len, 3, size, size, device=device)
    target = torch.randint(0, 7, (batch_size,), device=device)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    )
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = F.cross_entropy(model(clips), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default="resnet_convgru")
    parser.add_argument(
        "--sizes", default="64,112", help="comma-separated frame sizes (224: slow on CPU)"
    )
    parser.add_argument("--batch-size", type=int, default=30)
    parser.add_argument("--clip-len", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")

    print(benchmark_header(device))
    print(
        f"model {args.model}, batch {args.batch_size} clips x {args.clip_len} frames, device "
        f"{device}"
    )
    print(f"{'size':>5}  {'setting':<28} {'s/step':>8}  {'clips/s':>8}  {'vs fp32':>7}")
    auto = resolve_compute("auto", None, device=device.type)
    picked = (auto.precision == "bf16-mixed", auto.channels_last)
    for size in (int(s) for s in args.sizes.split(",")):
        baseline = None
        for name, bf16, channels_last in SETTINGS:
            seconds = time_steps(
                args.model,
                size=size,
                batch_size=args.batch_size,
                clip_len=args.clip_len,
                bf16=bf16,
                channels_last=channels_last,
                steps=args.steps,
                warmup=args.warmup,
                device=device,
            )
            baseline = baseline or seconds
            print(
                f"{size:>5}  {name:<28} {seconds:>8.3f}  {args.batch_size / seconds:>8.1f}  "
                f"{baseline / seconds:>6.2f}x"
                + ("  <- auto" if (bf16, channels_last) == picked else ""),
                flush=True,
            )


if __name__ == "__main__":
    main()
