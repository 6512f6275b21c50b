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

from gifemo.models.small_maps import conv2d


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


def _is_channels_last(x: torch.Tensor) -> bool:
    """True for a ``(N, C, H, W)`` tensor stored channels innermost (C > 1)."""
    return x.shape[1] > 1 and x.stride(1) == 1


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
        state = torch.zeros((b, self.hidden_dim, h, w), device=x.device, dtype=x.dtype)
        # Channels innermost: keep the convolutions in NHWC.
        return (
            state.contiguous(memory_format=torch.channels_last) if _is_channels_last(x) else state
        )

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(x.unsqueeze(1), h)[-1]

    def run(self, xs: torch.Tensor, h: torch.Tensor | None = None) -> list[torch.Tensor]:
        """All steps over ``xs (B, T, C_in, H, W)`` from state ``h`` (zeros if None): T states.

        Same arithmetic as stepping :meth:`forward`, arranged for speed: the input halves of both
        convolutions (``W_x * x_t``, most of the work) run once for all T frames as one batched
        convolution, only the state halves (``W_h * h``) run step by step, and the first step of a
        zero state skips them (they are zero). Per-step convolutions over ``[x_t, h]`` kept the
        CPU busy reordering the big fused weights for small, one-step batches.
        """
        b, t = xs.shape[:2]
        c_in, c_h = self.input_dim, self.hidden_dim
        gates_w, cand_w = self.gates.weight, self.candidate.weight
        padding = self.gates.padding
        bias = None
        if self.gates.bias is not None:
            bias = torch.cat([self.gates.bias, self.candidate.bias])
        frames = xs.flatten(0, 1)
        projected = conv2d(
            frames, torch.cat([gates_w[:, :c_in], cand_w[:, :c_in]]), bias, padding=padding
        ).unflatten(0, (b, t))
        # Strided views, read as they are: a contiguous copy per call measured slower on CPU.
        gates_h, cand_h = gates_w[:, c_in:], cand_w[:, c_in:]
        states: list[torch.Tensor] = []
        for step in range(t):
            gates_x, cand_x = projected[:, step].split((2 * c_h, c_h), dim=1)
            if h is None:
                z, _ = torch.sigmoid(gates_x).chunk(2, dim=1)
                # h_{-1} = 0: the reset gate has nothing to reset and z keeps nothing. The state
                # keeps the input's dtype, as a zero state of that dtype would.
                h = ((1 - z) * torch.tanh(cand_x)).to(xs.dtype)
            else:
                gates = gates_x + conv2d(h, gates_h, padding=padding)
                z, r = torch.sigmoid(gates).chunk(2, dim=1)
                candidate = torch.tanh(cand_x + conv2d(r * h, cand_h, padding=padding))
                # Under autocast the gates come out in low precision while a float32 state
                # stays float32 (type promotion), so the recurrence accumulates in the state's
                # precision.
                h = (1 - z) * candidate + z * h
            states.append(h)
        return states


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
        layer_input = x
        last_states: list[torch.Tensor] = []
        for i, cell in enumerate(self.cells):
            steps = cell.run(layer_input, None if state is None else state[i])
            last_states.append(steps[-1])
            layer_input = torch.stack(steps, dim=1)
        return layer_input, last_states
