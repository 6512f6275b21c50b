"""The machine's measured peak: what a 3x3 convolution and a matrix product reach here.

Efficiency figures divide a model's achieved GFLOP/s by these, measured in the same process
(the same threads, the same load), so that "80% of peak" means the same on any machine:

* **conv peak**: a float32 channels-last 3x3 convolution of 256 channels on 28x28 maps, batch
  32 (ResNet layer3-sized: large enough that oneDNN runs at its best), forward only;
* **matmul peak**: a float32 2048 x 2048 matrix product.

    .venv/bin/python benchmarks/peak.py [--device cpu|cuda] [--dtype float32|bfloat16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def _median_seconds(fn, *, device: torch.device, repeats: int, min_seconds: float = 0.5) -> float:
    fn()  # warm-up: kernel choice, weight reorders
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - started < min_seconds:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        if len(times) >= 50 * repeats:
            break
    return statistics.median(times)


def conv_peak(
    device: torch.device | str = "cpu",
    *,
    dtype: torch.dtype = torch.float32,
    channels: int = 256,
    hw: int = 28,
    batch: int = 32,
    repeats: int = 5,
) -> float:
    """GFLOP/s of a channels-last 3x3 convolution (a multiply-add counts 2)."""
    device = torch.device(device)
    x = torch.randn(batch, channels, hw, hw, device=device, dtype=dtype).contiguous(
        memory_format=torch.channels_last
    )
    w = torch.randn(channels, channels, 3, 3, device=device, dtype=dtype).contiguous(
        memory_format=torch.channels_last
    )
    flops = 2 * batch * channels * channels * 9 * hw * hw
    with torch.no_grad():
        seconds = _median_seconds(lambda: F.conv2d(x, w, padding=1), device=device, repeats=repeats)
    return flops / seconds / 1e9


def matmul_peak(
    device: torch.device | str = "cpu", *, dtype: torch.dtype = torch.float32, n: int = 2048
) -> float:
    """GFLOP/s of an ``n x n`` matrix product."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = _median_seconds(lambda: a @ b, device=device, repeats=5)
    return 2 * n**3 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args()
    from gifemo.hardware import benchmark_header

    dtype = getattr(torch, args.dtype)
    print(benchmark_header(args.device))
    print(f"conv 3x3 peak ({args.dtype}): {conv_peak(args.device, dtype=dtype):.1f} GFLOP/s")
    print(f"matmul peak ({args.dtype}): {matmul_peak(args.device, dtype=dtype):.1f} GFLOP/s")


if __name__ == "__main__":
    main()
