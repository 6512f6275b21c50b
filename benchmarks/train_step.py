"""Seconds per training step (forward, cross-entropy, backward, Adam) of a gifemo model.

The paper's batch (30 clips of T=4 frames) at several sizes, in four settings: float32 or
bfloat16 autocast (Lightning's ``bf16-mixed``), contiguous or channels-last weights. Prints the
machine (CPU model, cores, torch threads, load average: the cores may be shared) and the median
step time of ``--steps`` timed steps after ``--warmup`` untimed ones.

    .venv/bin/python benchmarks/train_step.py [--model resnet_convgru] [--sizes 64,112,224]
        [--batch-size 30] [--threads N] [--device cpu|cuda] [--small-maps on|off|both]

``--small-maps both`` adds a row per setting with the tiny-map matmul route of
``gifemo.models.small_maps`` turned off (plain oneDNN convolutions on the 2x2 maps).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import time

import torch
import torch.nn.functional as F

from gifemo.hardware import benchmark_header, resolve_compute
from gifemo.models import create_model, small_maps

SETTINGS: tuple[tuple[str, bool, bool], ...] = (
    ("fp32", False, False),
    ("fp32 + channels_last", False, True),
    ("bf16-mixed", True, False),
    ("bf16-mixed + channels_last", True, True),
)


@contextlib.contextmanager
def small_map_route(enabled: bool):
    """Turn gifemo.models.small_maps' matmul route for 2x2 maps on or off inside the block."""
    limit = small_maps.MAX_OUTPUT_PIXELS
    small_maps.MAX_OUTPUT_PIXELS = limit if enabled else 0
    try:
        yield
    finally:
        small_maps.MAX_OUTPUT_PIXELS = limit


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
    compile: bool = False,
    stats: dict | None = None,
) -> float:
    """Median seconds of one optimisation step (``stats["first_s"]``: the first step's, which
    includes the compilation with ``compile``)."""
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=7, clip_len=clip_len).to(device).train()
    if channels_last:
        model.to_channels_last()
    if compile:
        from gifemo.models.compilation import compile_model

        compile_model(model, training=True)
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
        if i == 0 and stats is not None:
            stats["first_s"] = time.perf_counter() - start
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
    parser.add_argument(
        "--settings", default=None, help="comma-separated setting names (default: all four)"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time the auto setting compiled (torch.compile; compile time apart)",
    )
    parser.add_argument(
        "--small-maps",
        choices=("on", "off", "both"),
        default="on",
        help="the matmul route for 2x2 maps (gifemo.models.small_maps): on (the default), off, "
        "or both, one row each",
    )
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
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
    print(f"{'size':>5}  {'setting':<40} {'s/step':>8}  {'clips/s':>8}  {'vs fp32':>7}")
    auto = resolve_compute("auto", None, device=device.type)
    picked = (auto.precision == "bf16-mixed", auto.channels_last)
    wanted = set(args.settings.split(",")) if args.settings else None
    settings = [row for row in SETTINGS if wanted is None or row[0] in wanted]
    routes = {"on": (True,), "off": (False,), "both": (True, False)}[args.small_maps]
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        baseline = None
        for (name, bf16, channels_last), route in itertools.product(settings, routes):
            with small_map_route(route):
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
            label = name if route else f"{name}, no small-map"
            print(
                f"{size:>5}  {label:<40} {seconds:>8.3f}  {args.batch_size / seconds:>8.1f}  "
                f"{baseline / seconds:>6.2f}x"
                + ("  <- auto" if (bf16, channels_last) == picked and route else ""),
                flush=True,
            )
            rows.append({"size": size, "setting": label, "s_per_step": seconds})
        if args.compile:
            stats: dict = {}
            seconds = time_steps(
                args.model,
                size=size,
                batch_size=args.batch_size,
                clip_len=args.clip_len,
                bf16=picked[0],
                channels_last=picked[1],
                steps=args.steps,
                warmup=max(2, args.warmup),
                device=device,
                compile=True,
                stats=stats,
            )
            auto_name = next(n for n, bf, cl in SETTINGS if (bf, cl) == picked)
            eager = next(
                (r["s_per_step"] for r in rows if (r["size"], r["setting"]) == (size, auto_name)),
                baseline,
            )
            print(
                f"{size:>5}  {'auto, compiled':<40} {seconds:>8.3f}  "
                f"{args.batch_size / seconds:>8.1f}  {baseline / seconds:>6.2f}x  "
                f"(first step, compiling: {stats['first_s']:.1f} s; break-even after "
                f"{_break_even(stats['first_s'], eager, seconds)})",
                flush=True,
            )
            rows.append(
                {
                    "size": size,
                    "setting": "auto, compiled",
                    "s_per_step": seconds,
                    "compile_s": stats["first_s"],
                }
            )
    if args.json:
        best = max(args.batch_size / r["s_per_step"] for r in rows)
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"rows": rows, "best_clips_per_s": best}, handle)


def _break_even(compile_s: float, eager_s: float, compiled_s: float) -> str:
    """Steps after which compiling has paid for itself (or "never" when it is not faster)."""
    if compiled_s >= eager_s:
        return "never: not faster"
    return f"{compile_s / (eager_s - compiled_s):.0f} steps"


if __name__ == "__main__":
    main()
