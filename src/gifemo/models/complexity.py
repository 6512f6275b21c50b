"""Parameter counts and FLOPs of registered models, computed on the meta device.

Building on ``torch.device("meta")`` allocates no memory and initialises nothing, and a
forward pass there only propagates shapes, so these numbers cost milliseconds even for
C3D's 78M parameters. FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``:
a multiply-add counts as 2 FLOPs; convolutions and matrix products (including the LSTM's
gate matmuls) are counted, elementwise work (activations, gates' products, pooling) is not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gifemo.models.registry import create_model


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level part (``backbone``, ``convgru``, ``lstm``, ``head``...)."""
    return {name: count_parameters(child) for name, child in model.named_children()}


def meta_model(name: str, **kwargs: Any) -> nn.Module:
    """``create_model(name, **kwargs)`` on the meta device (shapes only, no weights)."""
    with torch.device("meta"):
        return create_model(name, **kwargs).eval()


def clip_flops(model: nn.Module, *, clip_len: int, size: int, batch: int = 1) -> int:
    """FLOPs of one forward pass over ``batch`` clips ``(batch, clip_len, 3, size, size)``."""
    device = next(model.parameters()).device
    clip = torch.empty((batch, clip_len, 3, size, size), device=device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(clip)
    return counter.get_total_flops()


def train_step_flops(model: nn.Module, *, clip_len: int, size: int, batch: int = 1) -> int:
    """FLOPs of one training step's forward and backward passes over ``batch`` clips.

    Counted like :func:`clip_flops` (convolutions and matrix products, on the model's device;
    the meta device works), the backward pass included: about 3x the forward, a little less
    because nothing computes the gradient of the input frames. The optimizer's update is
    elementwise and not counted.
    """
    import torch.nn.functional as F

    device = next(model.parameters()).device
    was_training = model.training
    model.train()
    clip = torch.empty((batch, clip_len, 3, size, size), device=device)
    target = torch.zeros(batch, dtype=torch.long, device=device)
    try:
        with FlopCounterMode(display=False) as counter:
            F.cross_entropy(model(clip), target).backward()
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def model_stats(
    name: str, *, clip_len: int = 4, sizes: tuple[int, ...] = (112, 224), **kwargs: Any
) -> dict[str, Any]:
    """Parameter count, breakdown and GFLOPs per clip at each size, for the report tables."""
    model = meta_model(name, clip_len=clip_len, **kwargs)
    return {
        "name": name,
        "params": count_parameters(model),
        "breakdown": parameter_breakdown(model),
        "gflops": {s: clip_flops(model, clip_len=clip_len, size=s) / 1e9 for s in sizes},
        "paper": model.default_cfg["paper"],
    }
