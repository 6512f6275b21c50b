"""Convolutional GRU (the paper's eq. 3), stacked.

Per layer and time step, with ``*`` a 2D convolution and ``∘`` the elementwise product::

    z_t, r_t = σ(W_zr * [x_t, h_{t-1}] + b_zr)          # one convolution, split in two
    h'_t     = tanh(W_h * [x_t, r_t ∘ h_{t-1}] + b_h)
    h_t      = (1 - z_t) ∘ h'_t + z_t ∘ h_{t-1}

The last line is the paper's convention (``z`` keeps the *old* state); PyTorch's ``nn.GRU``
uses the same one. The reset gate multiplies the previous state *before* the candidate
convolution, as in Ballas et al. (2016) and most ConvGRU code; the paper's eq. 3 can also be
read as ``r ∘ (W_hh * h)`` (cuDNN's "reset after"), which it does not distinguish. Every
convolution has a bias (eq. 3 omits biases; they are free and standard).

The first layer reads the input sequence, each further layer reads the hidden states of the
layer below. The initial state is zero unless given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


def _pair(kernel_size: int | Sequence[int]) -> tuple[int, int]:
    pair = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if len(pair) != 2 or any(not isinstance(k, int) or k < 1 for k in pair):
        raise ValueError(
            f"kernel_size must be a positive int or a pair of them, got {kernel_size!r}"
        )
    if any(k % 2 == 0 for k in pair):
        # "same" padding needs k // 2 on both sides; an even kernel would shift the state by
        # half a pixel at every step and drift the features over the sequence.
        raise ValueError(
            f"ConvGRU kernel sizes must be odd so the state keeps its size and alignment, "
            f"got {kernel_size!r}"
        )
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class ConvGRUConfig:
    """Shape of a stacked ConvGRU.

    ``hidden_dim`` is one width for every layer or a sequence with one width per layer
    (then its length must equal ``num_layers``). ``kernel_size`` must be odd.
    """

    hidden_dim: int | tuple[int, ...] = 256
    num_layers: int = 2
    kernel_size: int | tuple[int, int] = 3
    bias: bool = True

    def __post_init__(self) -> None:
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {self.num_layers}")
        dims = self.hidden_dims
        if len(dims) != self.num_layers:
            raise ValueError(
                f"hidden_dim has {len(dims)} entries but num_layers is {self.num_layers}"
            )
        if any(d < 1 for d in dims):
            raise ValueError(f"hidden widths must be positive, got {dims}")
        _pair(self.kernel_size)

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        if isinstance(self.hidden_dim, int):
            return (self.hidden_dim,) * self.num_layers
        return tuple(self.hidden_dim)


class ConvGRUCell(nn.Module):
    """One ConvGRU step: ``x (B, C_in, H, W), h (B, C_h, H, W) -> h_next (B, C_h, H, W)``."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        kernel_size: int | Sequence[int] = 3,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        padding = (kh // 2, kw // 2)
        # Update and reset gates come from one convolution (one kernel launch, one weight).
        self.gates = nn.Conv2d(
            input_dim + hidden_dim, 2 * hidden_dim, (kh, kw), padding=padding, bias=bias
        )
        self.candidate = nn.Conv2d(
            input_dim + hidden_dim, hidden_dim, (kh, kw), padding=padding, bias=bias
        )

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        """Zero state for the step input ``x (B, C_in, H, W)``: its device, dtype, memory format."""
        b, c, h, w = x.shape
        channels_last = c > 1 and x.stride(1) == 1  # channels innermost: keep the convs in NHWC
        state = torch.zeros((b, self.hidden_dim, h, w), device=x.device, dtype=x.dtype)
        return state.contiguous(memory_format=torch.channels_last) if channels_last else state

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        if h is None:
            h = self.init_state(x)
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        # Under autocast the gates come out in low precision while a float32 state stays
        # float32 (type promotion), so the recurrence accumulates in the state's precision.
        return (1 - z) * candidate + z * h


class ConvGRU(nn.Module):
    """Stacked ConvGRU over a sequence of feature maps.

    ``forward(x (B, T, C_in, H, W), state=None)`` returns ``(outputs, last_states)``:

    - ``outputs``: ``(B, T, C_top, H, W)``, the top layer's state at every step;
    - ``last_states``: one ``(B, C_l, H, W)`` per layer, its state after the last step.

    ``state`` is an optional list with one initial ``(B, C_l, H, W)`` per layer; by default
    every layer starts from zeros on the input's device and dtype.
    """

    def __init__(self, input_dim: int, config: ConvGRUConfig | None = None) -> None:
        super().__init__()
        self.config = config or ConvGRUConfig()
        dims = self.config.hidden_dims
        in_dims = (input_dim, *dims[:-1])
        self.cells = nn.ModuleList(
            ConvGRUCell(i, h, self.config.kernel_size, bias=self.config.bias)
            for i, h in zip(in_dims, dims, strict=True)
        )
        self.input_dim = input_dim
        self.out_dim = dims[-1]

    def forward(
        self, x: torch.Tensor, state: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if x.dim() != 5 or x.shape[2] != self.input_dim:
            raise ValueError(
                f"ConvGRU expects (B, T, {self.input_dim}, H, W), got {tuple(x.shape)}"
            )
        if state is not None and len(state) != len(self.cells):
            raise ValueError(
                f"state needs one tensor per layer ({len(self.cells)}), got {len(state)}"
            )
        layer_input = x.unbind(1)
        last_states: list[torch.Tensor] = []
        for i, cell in enumerate(self.cells):
            h = None if state is None else state[i]
            steps = []
            for x_t in layer_input:
                h = cell(x_t, h)
                steps.append(h)
            last_states.append(h)
            layer_input = steps
        return torch.stack(layer_input, dim=1), last_states
