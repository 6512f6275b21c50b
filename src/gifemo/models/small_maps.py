"""Convolutions on tiny feature maps, run as one matrix product on the CPU.

At 64 px, ResNet18's ``layer4`` and the ConvGRU above it work on 2x2 maps: each 3x3
convolution there is a large batch (120 frames) of 4-pixel images with 256-768 channels.
oneDNN's direct convolution is tuned for large maps; on such maps its backward pass ran at
about 40 GFLOP/s on an AVX2 CPU whose matrix product reaches 260, and the 2x2 layers took half
of a training step (docs/training.md, "Tiny maps"). Unfolding the input (``F.unfold``, im2col)
and multiplying by the flattened kernel computes the same sums as one matrix product per
batch, forward and backward; on 2x2 maps it measured 2-2.5x faster there and no slower with
native AVX-512, while on 4x4 and larger maps the direct convolution wins. So the route is taken
only for outputs of at most :data:`MAX_OUTPUT_PIXELS` pixels, on the CPU, in eager mode: a GPU
(cuDNN), ``torch.compile``, ``torch.export`` and ONNX export see plain ``F.conv2d``.

The result equals ``F.conv2d`` up to float rounding (the sums are the same, their order is
not); parameters, their names and state dicts are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

#: Largest output (H_out * W_out) that runs as unfold + matmul. 0 turns the route off (the
#: benchmarks compare both); 2x2 maps are where it measured faster on every CPU kind tried.
MAX_OUTPUT_PIXELS = 4


def _tracing() -> bool:
    return (
        torch.compiler.is_compiling()
        or torch.onnx.is_in_onnx_export()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
    )


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` with numeric ``padding``: ``x (N, C, H, W)``, ``weight (O, C, kh, kw)`` ->
    ``(N, O, H_out, W_out)``, as unfold + matmul where that is faster (see the module)."""
    if (
        groups != 1
        or x.dim() != 4
        or x.device.type != "cpu"
        or MAX_OUTPUT_PIXELS <= 0
        or isinstance(padding, str)
        or _tracing()
    ):
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    out_ch, _, kh, kw = weight.shape
    h_out = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if h_out * w_out > MAX_OUTPUT_PIXELS or h_out < 1 or w_out < 1:
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    n = x.shape[0]
    # Columns (N, C*kh*kw, L) as (N*L, C*kh*kw) rows times the (C*kh*kw, O) kernel: one
    # GEMM with N*L rows (a batched product over N, with L = 4 columns each, measured slower).
    cols = F.unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    rows = cols.transpose(1, 2).reshape(n * h_out * w_out, -1)
    kernel = weight.reshape(out_ch, -1).t()
    if bias is None:
        out = rows @ kernel
    else:
        out = torch.addmm(bias, rows, kernel)
    # (N, H_out, W_out, O) viewed as (N, O, H_out, W_out): already channels-last.
    out = out.view(n, h_out, w_out, out_ch).permute(0, 3, 1, 2)
    if x.shape[1] > 1 and x.stride(1) == 1:
        return out  # the caller's layout is channels-last too
    return out.contiguous()


class SmallMapConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose forward goes through :func:`conv2d` (same parameters)."""

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        if self.padding_mode != "zeros":  # conv2d itself falls back for "same"/"valid"
            return super()._conv_forward(input, weight, bias)
        return conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def use_small_map_convs(module: nn.Module) -> nn.Module:
    """Make every plain ``nn.Conv2d`` in ``module`` a :class:`SmallMapConv2d`, in place.

    Only the class changes: the parameters, buffers, hooks and names stay, so state dicts and
    pretrained weights load as before. Returns ``module``.
    """
    for m in module.modules():
        if type(m) is nn.Conv2d:
            m.__class__ = SmallMapConv2d
    return module
