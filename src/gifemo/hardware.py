"""What this machine is, and the numeric precision and memory format that are fast on it.

CPUs differ: on an AVX-512 CPU with native bfloat16 (AVX512-BF16 or AMX), bfloat16 autocast
roughly doubles convolution throughput; on an AVX2 CPU (most laptops, many cloud VMs) oneDNN
emulates bfloat16 and the same autocast is 7x (3x3 convolutions) to 100x (matrix products)
*slower* than float32 (measured, docs/training.md). So nothing in gifemo hard-codes bf16:
``precision="auto"`` (every command's default) resolves here, per device, to

* CUDA: ``bf16-mixed`` where the GPU has bfloat16 (Ampere and later), ``16-mixed`` on
  tensor-core GPUs without it (Volta, Turing), else ``32``;
* CPU: ``bf16-mixed`` only with native bfloat16 *that torch will use* (the ISA torch
  dispatches to and oneDNN's ISA cap both reach it) *and* that measured faster than float32
  on this CPU (a probe of about a second, run once per CPU kind and remembered under the
  cache root: native bf16 is 2x float32 on some CPUs, slower on others), else ``32``.

Channels-last weights (``channels_last=None``: auto) are on for the CPU (oneDNN's NHWC
convolutions: 1.3x on the AVX2 CPU above, in float32 as in bfloat16) and for CUDA with mixed
precision (tensor cores read NHWC); off for CUDA in float32.

``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` makes an AVX-512 machine behave like an AVX2
one; the checks below read what torch actually uses, so they follow those variables.
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

#: Precision names: Lightning's, used by every gifemo command and API.
PRECISIONS: tuple[str, ...] = ("32", "bf16-mixed", "16-mixed")
AUTO = "auto"
#: Other spellings accepted on input (predict's old ``bf16``, ``fp32``...).
PRECISION_ALIASES: dict[str, str] = {
    "fp32": "32",
    "32-true": "32",
    "float32": "32",
    "bf16": "bf16-mixed",
    "bfloat16": "bf16-mixed",
    "16": "16-mixed",
    "fp16": "16-mixed",
    "float16": "16-mixed",
}

#: Measured on a 2-core AVX2 CPU without native bf16 (torch 2.14.1, 2 threads; docs/training.md).
EMULATED_BF16_SLOWDOWN = "7x slower 3x3 convolutions and over 100x slower matrix products"

#: oneDNN's CPU ISA names from lowest to highest (``ONEDNN_MAX_CPU_ISA``); from
#: ``AVX512_CORE_BF16`` up, bfloat16 runs on native instructions.
_ONEDNN_ISAS: tuple[str, ...] = (
    "SSE41",
    "AVX",
    "AVX2",
    "AVX2_VNNI",
    "AVX2_VNNI_2",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
    "AVX512_CORE_BF16",
    "AVX10_1_512",
    "AVX512_CORE_FP16",
    "AVX10_1_512_AMX",
    "AVX512_CORE_AMX",
    "AVX10_1_512_AMX_FP16",
    "AVX512_CORE_AMX_FP16",
    "ALL",
    "DEFAULT",
)


class EmulatedBF16Warning(RuntimeWarning):
    """bfloat16 was asked for on a CPU that only emulates it (much slower than float32)."""


def normalize_precision(value: str | int | None, *, allow_auto: bool = True) -> str:
    """One of :data:`PRECISIONS` (or ``"auto"``) for any accepted spelling; ``ValueError`` else."""
    text = AUTO if value is None else str(value).strip().lower()
    text = PRECISION_ALIASES.get(text, text)
    if text == AUTO and allow_auto:
        return AUTO
    if text not in PRECISIONS:
        names = (AUTO, *PRECISIONS) if allow_auto else PRECISIONS
        raise ValueError(f"precision must be one of {', '.join(names)}, got {value!r}")
    return text


def autocast_dtype(precision: str):
    """The autocast dtype of a resolved precision (``None`` for float32)."""
    import torch

    return {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}[
        normalize_precision(precision, allow_auto=False)
    ]


# -- the CPU ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


@lru_cache(maxsize=1)
def _cpuinfo_lines() -> tuple[str, ...]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return tuple(handle)
    except OSError:
        return ()


def cpu_flags() -> frozenset[str]:
    """The first CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    for line in _cpuinfo_lines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_capability() -> str:
    """The ISA torch's CPU kernels dispatch to (``"AVX2"``, ``"AVX512"``...): follows
    ``ATEN_CPU_CAPABILITY``."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and CI set)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def onednn_isa_allows_bf16() -> bool:
    """False when ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below its native-bfloat16 ISAs."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if not cap or cap not in _ONEDNN_ISAS:
        return True
    return _ONEDNN_ISAS.index(cap) >= _ONEDNN_ISAS.index("AVX512_CORE_BF16")


def cpu_has_native_bf16() -> bool:
    """Whether bfloat16 runs on native instructions here, as torch is configured to run.

    The hardware must have AVX512-BF16 or AMX, torch must dispatch to AVX-512 kernels
    (``ATEN_CPU_CAPABILITY``), and oneDNN must be allowed to use them (``ONEDNN_MAX_CPU_ISA``).
    """
    import torch

    cpu = torch.cpu
    hardware = bool(
        getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
    )
    return hardware and cpu_capability().startswith("AVX512") and onednn_isa_allows_bf16()


# -- the choice ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeChoice:
    """The precision and memory format a run uses on one device, and why."""

    precision: str  # one of PRECISIONS
    channels_last: bool
    device: str  # "cpu" or "cuda"
    requested: str  # what was asked: "auto" or a precision
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``"precision 32, channels-last (auto: ...)"``: the line commands print."""
        layout = "channels-last" if self.channels_last else "contiguous"
        return f"precision {self.precision}, {layout} ({self.reason})"


def _device_type(device: Any) -> str:
    text = str(device or "cpu").lower()
    if text in ("gpu", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if text.startswith("cuda") else "cpu"


def auto_precision(device: Any = "cpu") -> tuple[str, str]:
    """``(precision, reason)`` that ``"auto"`` resolves to on ``device``."""
    import torch

    if _device_type(device) == "cuda":
        index = torch.device(str(device)).index if str(device).startswith("cuda") else None
        name = torch.cuda.get_device_name(index)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16-mixed", f"auto: {name} has native bfloat16"
        major, _ = torch.cuda.get_device_capability(index)
        if major >= 7:
            return "16-mixed", f"auto: {name} has float16 tensor cores but no bfloat16"
        return "32", f"auto: {name} has no tensor cores"
    capability = cpu_capability()
    if not cpu_has_native_bf16():
        return "32", (
            f"auto: CPU {capability} without native bfloat16, where bf16 is emulated and slow"
        )
    speedup = bf16_speedup()
    if speedup >= BF16_MIN_SPEEDUP:
        return "bf16-mixed", (
            f"auto: CPU {capability} with native bfloat16, measured {speedup:.2f}x float32's speed"
        )
    return "32", (
        f"auto: CPU {capability} with native bfloat16, but it measured {speedup:.2f}x "
        "float32's speed here"
    )


# -- measuring native bf16 ------------------------------------------------------------------

#: bfloat16 must run the probe this much faster than float32 for ``auto`` to pick it. Native
#: bf16 instructions do not make it faster everywhere: measured on 2 cores, an AMD EPYC with
#: AVX512-BF16 ran the 64 px training step in bf16 at 2x float32's speed, an Intel Xeon with
#: AVX512-BF16 but no AMX at 0.8x (docs/training.md).
BF16_MIN_SPEEDUP = 1.15
#: The probe's results, one entry per CPU kind, under :func:`gifemo.paths.default_cache_dir`.
PROBE_FILE = "cpu-precision.json"
_measured: dict[str, float] = {}


def probe_key() -> str:
    """What a probe result holds for: the CPU, the ISA torch runs, torch, the thread count."""
    import torch

    return (
        f"{cpu_model()} | {cpu_capability()} | onednn {os.environ.get('ONEDNN_MAX_CPU_ISA', '')}"
        f" | torch {torch.__version__} | {torch.get_num_threads()} threads"
    )


def measure_bf16_speedup(
    *, batch: int = 16, channels: int = 64, size: int = 16, repeats: int = 5
) -> float:
    """float32's time over bfloat16 autocast's for one small training step on this CPU.

    The step has what a gifemo model's has (channels-last 3x3 convolutions on small maps and a
    matrix product, forward and backward), about 3 GFLOP at the defaults: tens of milliseconds
    per setting where bf16 is native. Each setting is warmed up (oneDNN picks its kernels on
    first use) and timed ``repeats`` times, keeping the fastest.
    """
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ).to(memory_format=torch.channels_last)
        dense = nn.Linear(16 * channels, 16 * channels)
        x = torch.randn(batch, channels, size, size).to(memory_format=torch.channels_last)
        rows = torch.randn(16 * batch, 16 * channels)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = net(x).float().square().mean() + dense(rows).float().square().mean()
        loss.backward()

    return min(timed_calls(lambda: step(False), repeats)) / min(
        timed_calls(lambda: step(True), repeats)
    )


def timed_calls(fn, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn()``, after one untimed warm-up call (where
    oneDNN and the allocator do their one-off work)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _probe_path():
    from gifemo.paths import default_cache_dir

    return default_cache_dir() / PROBE_FILE


def bf16_speedup() -> float:
    """:func:`measure_bf16_speedup` for this CPU kind, measured once: remembered in this process
    and in ``PROBE_FILE`` (written atomically; an unreadable file is measured over)."""
    key = probe_key()
    if key in _measured:
        return _measured[key]
    path = _probe_path()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        entries = {}
    entries = entries if isinstance(entries, dict) else {}
    try:
        speedup = float(entries[key]["bf16_speedup"])
    except (KeyError, TypeError, ValueError):
        speedup = None
    if speedup is None or not speedup > 0:
        speedup = measure_bf16_speedup()
        entries[key] = {"bf16_speedup": round(speedup, 4), "measured": time.strftime("%Y-%m-%d")}
        try:
            from gifemo.atomic import atomic_write_text

            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(entries, indent=1, sort_keys=True) + "\n")
        except OSError:
            pass  # a read-only cache: measured again next time, nothing else lost
    _measured[key] = speedup
    return speedup


def resolve_compute(
    precision: str | None = AUTO, channels_last: bool | None = None, *, device: Any = "cpu"
) -> ComputeChoice:
    """Resolve ``precision`` (``"auto"`` or explicit) and ``channels_last`` (``None``: auto).

    Explicit values win. Raises ``ValueError`` for ``16-mixed`` without CUDA; warns
    (:class:`EmulatedBF16Warning`) for bf16 on a CPU that emulates it.
    """
    requested = normalize_precision(precision)
    kind = _device_type(device)
    if requested == AUTO:
        resolved, reason = auto_precision(device)
    else:
        resolved, reason = requested, "as asked"
        if kind == "cpu" and resolved == "16-mixed":
            raise ValueError(
                "precision 16-mixed needs a CUDA GPU (float16 autocast); on CPU use 32 or auto"
            )
        if kind == "cpu" and resolved == "bf16-mixed" and not cpu_has_native_bf16():
            warn_emulated_bf16()
            reason = "as asked; this CPU emulates bfloat16"
    if channels_last is None:
        channels_last = kind == "cpu" or resolved != "32"
    return ComputeChoice(
        precision=resolved,
        channels_last=bool(channels_last),
        device=kind,
        requested=requested,
        reason=reason,
    )


def warn_emulated_bf16() -> None:
    warnings.warn(
        f"bfloat16 on this CPU ({cpu_capability()}, no native AVX512-BF16/AMX in use) is emulated: "
        f"measured {EMULATED_BF16_SLOWDOWN} than float32 on such a CPU. "
        "Use --precision auto (float32 here) unless you are testing bf16 itself.",
        EmulatedBF16Warning,
        stacklevel=3,
    )


# -- the report ------------------------------------------------------------------------------


def describe_hardware() -> dict[str, Any]:
    """CPU model, cores, torch threads, ISA, native bf16, and the CUDA devices if any."""
    import torch

    return {
        "cpu": cpu_model(),
        "cpu_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "torch": str(torch.__version__),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }


def hardware_line(info: dict[str, Any] | None = None) -> str:
    """``"AMD EPYC (2 cores, 2 torch threads, AVX2, no native bf16)"``, GPUs first if any."""
    info = info if info is not None else describe_hardware()
    bf16 = "native bf16" if info.get("native_bf16") else "no native bf16"
    cpu = (
        f"{info.get('cpu')} ({info.get('cpu_cores')} cores, {info.get('torch_threads')} torch "
        "threads, "
        f"{info.get('cpu_capability')}, {bf16})"
    )
    gpus = info.get("gpus") or []
    if gpus:
        return f"{len(gpus)}x {gpus[0]}; CPU {cpu}"
    return cpu


def benchmark_header(device: Any = "cpu") -> str:
    """What every benchmark prints first: the machine (CPU kind, native bf16, GPUs), what
    ``auto`` picks on ``device``, and the load average (the cores may be shared)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    choice = resolve_compute(AUTO, None, device=device)
    return (
        f"machine: {hardware_line()}; load average {load:.2f}\n"
        f"auto on {choice.device}: {choice.describe()}"
    )
