"""Size and cost of every registered model: parameters, GFLOPs per clip, training step time.

Parameters and FLOPs are exact and machine-independent: the models are built on the meta
device and one forward pass is counted by ``torch.utils.flop_counter.FlopCounterMode``
(a multiply-add = 2 FLOPs; convolutions and matrix products, including the LSTM's, are
counted; elementwise work is not). ``--timing`` adds seconds per training step (forward,
cross-entropy, backward, Adam) for each model, measured with ``benchmarks/train_step.py``'s
``time_steps``, in float32 and in channels-last + bfloat16 autocast. Prints markdown tables
(the ones in docs/models.md) and the machine, including its load average: the cores may be
shared, and step times on a loaded machine are upper bounds.

    .venv/bin/python benchmarks/model_flops.py [--clip-len 4] [--sizes 112,224]
        [--timing] [--timing-sizes 64,112] [--batch-size 30] [--steps 2] [--models a,b]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from gifemo.hardware import benchmark_header
from gifemo.models import list_models
from gifemo.models.complexity import model_stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import time_steps


def size_table(models: list[str], *, clip_len: int, sizes: tuple[int, ...]) -> str:
    header = ["model", "parameters"] + [f"GFLOPs/clip {s} px" for s in sizes] + ["source paper"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in models:
        stats = model_stats(name, clip_len=clip_len, sizes=sizes)
        flops = [f"{stats['gflops'][s]:.1f}" for s in sizes]
        lines.append(
            f"| `{name}` | {stats['params'] / 1e6:.1f} M | "
            + " | ".join(flops)
            + f" | {stats['paper']} |"
        )
    return "\n".join(lines)


def timing_table(
    models: list[str], *, sizes: tuple[int, ...], batch_size: int, clip_len: int, steps: int
) -> str:
    lines = [
        "| model | size | fp32 s/step | channels-last + bf16 s/step | speed-up |",
        "|---|---|---|---|---|",
    ]
    for name in models:
        for size in sizes:
            seconds = [
                time_steps(
                    name,
                    size=size,
                    batch_size=batch_size,
                    clip_len=clip_len,
                    bf16=fast,
                    channels_last=fast,
                    steps=steps,
                    warmup=1,
                    device=torch.device("cpu"),
                )
                for fast in (False, True)
            ]
            lines.append(
                f"| `{name}` | {size} px | {seconds[0]:.2f} | {seconds[1]:.2f} | "
                f"{seconds[0] / seconds[1]:.2f}x |"
            )
            print(lines[-1], file=sys.stderr, flush=True)  # progress: these take minutes
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--models", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--clip-len", type=int, default=4)
    parser.add_argument("--sizes", default="112,224", help="frame sizes of the FLOP columns")
    parser.add_argument("--timing", action="store_true", help="also time CPU training steps")
    parser.add_argument("--timing-sizes", default="64,112")
    parser.add_argument("--batch-size", type=int, default=30)
    parser.add_argument("--steps", type=int, default=2, help="timed steps (after 1 warm-up)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = args.models.split(",") if args.models else list_models()
    sizes = tuple(int(s) for s in args.sizes.split(","))

    print(f"torch {torch.__version__}")
    print(benchmark_header())
    print(
        f"\nParameters and FLOPs per clip (T={args.clip_len}, batch 1, forward pass, 7 classes):\n"
    )
    print(size_table(models, clip_len=args.clip_len, sizes=sizes))
    if args.timing:
        load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"
        print(
            f"\nCPU seconds per training step (batch {args.batch_size} clips x "
            f"{args.clip_len} frames, "
            f"median of {args.steps} after 1 warm-up; load average at start {load}):\n"
        )
        timing_sizes = tuple(int(s) for s in args.timing_sizes.split(","))
        print(
            timing_table(
                models,
                sizes=timing_sizes,
                batch_size=args.batch_size,
                clip_len=args.clip_len,
                steps=args.steps,
            )
        )
        if hasattr(os, "getloadavg"):
            print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
