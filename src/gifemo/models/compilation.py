"""``torch.compile`` (inductor) for training and prediction, and when ``auto`` turns it on.

``compile=None`` (auto, every command's default) resolves per device with
:func:`resolve_compile`. Measured on CPU (docs/training.md, "Compiled training"): inductor
compiles the paper's model in tens of seconds to minutes on 2 cores (forward and backward for
training), and the steady-state gain does not pay that back within a typical CPU run, so auto
is **off on the CPU**. On CUDA it has not been measured here (no GPU); ``make gpu-check``
measures eager against compiled steps, and auto stays off until such a measurement says
otherwise. ``--compile`` asks for it anywhere.

Models are compiled in place with :meth:`torch.nn.Module.compile`, which keeps the module (and
so its ``state_dict`` keys and checkpoints) as it is; only its ``__call__`` goes through
inductor.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

#: Why auto is off, per device type (the measurements are in docs/training.md).
AUTO_REASONS: dict[str, str] = {
    "cpu": "auto: off on CPU, where compile time outweighs the steady-state gain in a typical run",
    "cuda": "auto: off on CUDA until measured (make gpu-check times eager against compiled)",
}


def resolve_compile(requested: bool | None, device: Any = "cpu") -> tuple[bool, str]:
    """``(compile, reason)`` for ``requested`` (``None``: auto) on ``device``.

    Raises ``ValueError`` when compilation is asked for on the CPU without a C++ compiler
    (inductor generates C++ there).
    """
    kind = "cuda" if str(device).startswith(("cuda", "gpu")) else "cpu"
    if requested is None:
        return False, AUTO_REASONS[kind]
    if requested and kind == "cpu" and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        raise ValueError(
            "--compile on CPU needs a C++ compiler (inductor generates C++): install g++ "
            "or use --no-compile"
        )
    return bool(requested), "as asked"


def compile_model(model, *, training: bool):
    """Compile ``model`` in place with inductor and return it.

    Shapes are static (``dynamic=False``): every batch but the last of an epoch or a predict
    run has the same size, and the last recompiles once. For inference, inductor's
    ``freezing`` folds the weights into the graph as constants (and, on the CPU, lets oneDNN
    prepack them): measured 1.2x faster steady-state inference at 64 px on CPU where plain
    compilation gained nothing; the weights must not change afterwards.
    """
    options = None if training else {"freezing": True}
    use_cache_per_cpu_kind()
    model.compile(backend="inductor", dynamic=False, options=options)
    return model


def use_cache_per_cpu_kind() -> str:
    """Point inductor's on-disk cache at one folder per CPU kind torch runs as, and return it.

    The cache does not tell apart kernels compiled while torch ran as another CPU kind
    (``ATEN_CPU_CAPABILITY=avx2`` on an AVX-512 machine): reused across the two, they gave an
    "index out of bounds" in a max-pool backward kernel and another top emotion from a compiled
    predictor (measured; both pass with a cache of their own). A ``TORCHINDUCTOR_CACHE_DIR``
    set by the user is kept as it is.
    """
    import torch
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    default = os.path.abspath(default_cache_dir())
    # Inductor writes its default into the variable the first time it asks for the folder.
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR", default) == default:
        kind = torch.backends.cpu.get_cpu_capability().lower()
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = f"{default}-{kind}"
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]
