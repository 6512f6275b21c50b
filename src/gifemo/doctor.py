"""``gifemo doctor``: the facts a bug report starts with, and what ``auto`` picks on this machine.

:func:`collect` gathers them into one JSON-able dict: versions (Python, gifemo, torch, CUDA,
torchvision, Lightning, ONNX Runtime), the CPU (model, cores, the ISA torch dispatches to, the
relevant flags, native bfloat16), the GPUs, what ``precision="auto"`` and ``channels_last=None``
resolve to on each device, the optional programs some tests use (ImageMagick, Chromium), the
frame-cache directory, and the environment variables that change any of it.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: CPU flags that decide which kernels run fast (from ``/proc/cpuinfo``).
CPU_FLAGS: tuple[str, ...] = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_tile",
)
#: Environment variables that change what torch, oneDNN or gifemo do.
ENV_VARS: tuple[str, ...] = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "GIFEMO_CACHE",
    "GIFEMO_CHROMIUM",
)
#: Where ``.ci/run`` installs Chromium (Debian's package); ``GIFEMO_CHROMIUM`` overrides it.
DEFAULT_CHROMIUM = "/usr/bin/chromium"


@functools.cache
def find_imagemagick() -> str | None:
    """Path of a real ImageMagick ``convert``, recognised by its ``-version`` banner.

    Wrapper scripts are skipped: the ``convert`` first on PATH may be a stand-in that rewrites its
    arguments (this project's machines have one), so system locations are tried first.
    """
    candidates = [
        "/usr/bin/convert",
        "/usr/bin/convert-im6.q16",
        shutil.which("magick"),
        shutil.which("convert"),
    ]
    for convert in dict.fromkeys(c for c in candidates if c and os.access(c, os.X_OK)):
        with open(convert, "rb") as handle:
            if handle.read(2) == b"#!":
                continue
        if "ImageMagick" in _first_line(convert, "-version"):
            return convert
    return None


def find_chromium() -> str | None:
    """The Chromium the browser tests drive (``$GIFEMO_CHROMIUM`` or Debian's), if present."""
    path = Path(os.environ.get("GIFEMO_CHROMIUM", DEFAULT_CHROMIUM))
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def _first_line(program: str, *args: str) -> str:
    try:
        result = subprocess.run([program, *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (
        (result.stdout or result.stderr).strip().splitlines()[0]
        if (result.stdout or result.stderr).strip()
        else ""
    )


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _gpus() -> list[dict[str, Any]]:
    import torch

    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(
            {
                "index": index,
                "name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "memory_gib": round(props.total_memory / 2**30, 1),
                "bf16": props.major >= 8,  # Ampere and later
            }
        )
    return gpus


def collect() -> dict[str, Any]:
    """Everything ``gifemo doctor`` reports (see the module docstring)."""
    import torch

    from gifemo import __version__
    from gifemo.data.cache import default_cache_dir
    from gifemo.hardware import (
        cpu_capability,
        cpu_flags,
        cpu_has_native_bf16,
        cpu_model,
        onednn_isa_allows_bf16,
        resolve_compute,
        usable_cores,
    )

    flags = cpu_flags()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cache = default_cache_dir()
    convert, chromium = find_imagemagick(), find_chromium()
    return {
        "gifemo": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {
            name: _version(name)
            for name in ("torch", "torchvision", "lightning", "onnxruntime", "numpy", "pillow")
        },
        "torch": {
            "version": str(torch.__version__),
            "cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(),
            "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
        },
        "cpu": {
            "model": cpu_model(),
            "machine": platform.machine(),
            "cores": usable_cores(),
            "capability": cpu_capability(),
            "flags": {flag: flag in flags for flag in CPU_FLAGS},
            "onednn_allows_bf16": onednn_isa_allows_bf16(),
            "native_bf16": cpu_has_native_bf16(),
        },
        "gpus": _gpus(),
        "auto": {
            device: resolve_compute("auto", None, device=device).to_dict() for device in devices
        },
        "optional_programs": {
            "imagemagick": {
                "path": convert,
                "version": _first_line(convert, "-version") if convert else None,
            },
            "chromium": {
                "path": chromium,
                "version": _first_line(chromium, "--version") if chromium else None,
            },
        },
        "cache_dir": {"path": str(cache), "exists": cache.is_dir()},
        "environment": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
    }


def render_text(report: dict[str, Any]) -> str:
    """The report as aligned ``key: value`` lines, for a terminal or a bug report."""
    cpu, torch_info = report["cpu"], report["torch"]
    flags = (
        " ".join(name for name, present in cpu["flags"].items() if present) or "none of the listed"
    )
    lines = [
        f"gifemo {report['gifemo']}, Python {report['python']}, {report['platform']}",
        "packages: " + ", ".join(f"{k} {v or 'missing'}" for k, v in report["packages"].items()),
        f"torch: {torch_info['version']}, CUDA build {torch_info['cuda'] or 'none'}, "
        f"CUDA available: {'yes' if torch_info['cuda_available'] else 'no'}, "
        f"{torch_info['threads']} threads",
        f"CPU: {cpu['model']} ({cpu['machine']}, {cpu['cores']} cores)",
        f"  torch kernels: {cpu['capability']}; flags: {flags}",
        f"  native bf16: {'yes' if cpu['native_bf16'] else 'no'}"
        + ("" if cpu["onednn_allows_bf16"] else " (ONEDNN_MAX_CPU_ISA caps oneDNN below it)"),
    ]
    if report["gpus"]:
        for gpu in report["gpus"]:
            lines.append(
                f"GPU {gpu['index']}: {gpu['name']} (compute {gpu['capability']}, "
                f"{gpu['memory_gib']} GiB)"
            )
    else:
        lines.append("GPUs: none")
    for device, choice in report["auto"].items():
        layout = "channels-last" if choice["channels_last"] else "contiguous"
        lines.append(
            f"auto on {device}: precision {choice['precision']}, {layout} ({choice['reason']})"
        )
    for name, found in report["optional_programs"].items():
        where = (
            f"{found['path']} ({found['version']})"
            if found["path"]
            else "not found (the tests that need it skip)"
        )
        lines.append(f"{name}: {where}")
    cache = report["cache_dir"]
    lines.append(f"cache dir: {cache['path']}" + ("" if cache["exists"] else " (not created yet)"))
    env = report["environment"]
    lines.append(
        "environment: "
        + (
            ", ".join(f"{k}={v}" for k, v in env.items())
            if env
            else "none of " + ", ".join(ENV_VARS)
        )
    )
    return "\n".join(lines)
