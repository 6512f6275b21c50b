"""A one-line description of the machine, for reports and benchmarks."""

from __future__ import annotations

import os
import platform
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_hardware() -> dict[str, object]:
    """CPU model, usable cores, torch threads, and the CUDA devices if any."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "cpu_cores": cores,
        "torch_threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    return info


def hardware_line(info: dict[str, object] | None = None) -> str:
    """``"Intel Xeon ... (2 cores, 2 torch threads)"`` or ``"1x NVIDIA H100 ...; CPU ..."``."""
    info = info if info is not None else describe_hardware()
    cpu = f"{info.get('cpu')} ({info.get('cpu_cores')} cores, {info.get('torch_threads')} torch threads)"
    gpus = info.get("gpus") or []
    if gpus:
        return f"{len(gpus)}x {gpus[0]}; CPU {cpu}"
    return cpu
