"""ConvGRU (the paper's eq. 3): one step against a hand computation, stacking, states, dtypes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from models_helpers import single_thread  # noqa: F401  (autouse fixture)

from gifemo.models.convgru import ConvGRU, ConvGRUCell, ConvGRUConfig


def _cell(c_in: int = 3, hidden: int = 4, kernel=3) -> ConvGRUCell:
    torch.manual_seed(0)
    return ConvGRUCell(c_in, hidden, kernel).double()


def test_single_step_matches_eq3_by_hand():
    c_in, hidden = 3, 4
    cell = _cell(c_in, hidden)
    x = torch.randn(2, c_in, 5, 6, dtype=torch.float64)
    h = torch.randn(2, hidden, 5, 6, dtype=torch.float64)

    # Eq. 3 with separate input and state kernels: split the fused convolutions by input
    # channel (x first, then h) and by output channel (z first, then r).
    w_g, b_g = cell.gates.weight, cell.gates.bias
    w_c, b_c = cell.candidate.weight, cell.candidate.bias
    w_xz, w_hz = w_g[:hidden, :c_in], w_g[:hidden, c_in:]
    w_xr, w_hr = w_g[hidden:, :c_in], w_g[hidden:, c_in:]
    w_xh, w_hh = w_c[:, :c_in], w_c[:, c_in:]
    z = torch.sigmoid(F.conv2d(x, w_xz, b_g[:hidden], padding=1) + F.conv2d(h, w_hz, padding=1))
    r = torch.sigmoid(F.conv2d(x, w_xr, b_g[hidden:], padding=1) + F.conv2d(h, w_hr, padding=1))
    candidate = torch.tanh(F.conv2d(x, w_xh, b_c, padding=1) + F.conv2d(r * h, w_hh, padding=1))
    expected = (1 - z) * candidate + z * h

    torch.testing.assert_close(cell(x, h), expected, rtol=1e-12, atol=1e-12)


def test_non_square_kernel_pads_to_keep_size():
    cell = ConvGRUCell(2, 3, (5, 3))
    out = cell(torch.randn(1, 2, 7, 9))
    assert out.shape == (1, 3, 7, 9)


@pytest.mark.parametrize("kernel", [2, 4, (3, 2), (4, 3)])
def test_even_kernel_is_refused(kernel):
    with pytest.raises(ValueError, match="odd"):
        ConvGRUConfig(kernel_size=kernel)
    with pytest.raises(ValueError, match="odd"):
        ConvGRUCell(3, 4, kernel)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_layers": 0},
        {"hidden_dim": (8, 8, 8), "num_layers": 2},
        {"hidden_dim": 0},
        {"kernel_size": 0},
    ],
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        ConvGRUConfig(**kwargs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_zero_initial_state_follows_input(dtype):
    cell = ConvGRUCell(3, 4).to(dtype)
    x = torch.randn(2, 3, 5, 5, dtype=dtype)
    state = cell.init_state(x)
    assert state.shape == (2, 4, 5, 5)
    assert state.dtype == dtype and state.device == x.device
    assert not state.any()
    torch.testing.assert_close(cell(x), cell(x, torch.zeros_like(state)), rtol=0, atol=0)


def test_stack_returns_top_layer_steps_and_each_layer_last_state():
    torch.manual_seed(0)
    net = ConvGRU(3, ConvGRUConfig(hidden_dim=(5, 6), num_layers=2)).double()
    x = torch.randn(2, 4, 3, 6, 7, dtype=torch.float64)
    outputs, last = net(x)

    assert outputs.shape == (2, 4, 6, 6, 7)
    assert [s.shape for s in last] == [(2, 5, 6, 7), (2, 6, 6, 7)]
    # Layer 1 reads the input, layer 2 reads layer 1's states, step by step.
    h1 = h2 = None
    for t in range(4):
        h1 = net.cells[0](x[:, t], h1)
        h2 = net.cells[1](h1, h2)
        torch.testing.assert_close(outputs[:, t], h2)
    torch.testing.assert_close(last[0], h1)
    torch.testing.assert_close(last[1], h2)


def test_given_initial_state_is_used_and_checked():
    torch.manual_seed(0)
    net = ConvGRU(3, ConvGRUConfig(hidden_dim=4, num_layers=2))
    x = torch.randn(1, 2, 3, 4, 4)
    state = [torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)]
    from_zero, _ = net(x)
    from_state, _ = net(x, state)
    assert not torch.allclose(from_zero, from_state)
    torch.testing.assert_close(net.cells[0](x[:, 0], state[0]), net(x[:, :1], state)[1][0])
    with pytest.raises(ValueError, match="one tensor per layer"):
        net(x, state[:1])
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        net(torch.randn(1, 2, 5, 4, 4))


def test_gradient_reaches_the_first_step():
    torch.manual_seed(0)
    net = ConvGRU(3, ConvGRUConfig(hidden_dim=4, num_layers=2))
    x = torch.randn(1, 5, 3, 4, 4, requires_grad=True)
    _, last = net(x)
    last[-1].sum().backward()
    assert x.grad[:, 0].abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cpu_autocast_forward_and_backward_are_finite(dtype):
    torch.manual_seed(0)
    net = ConvGRU(8, ConvGRUConfig(hidden_dim=16, num_layers=2))
    x = torch.randn(2, 4, 8, 6, 6)
    with torch.autocast("cpu", dtype=dtype):
        outputs, last = net(x)
    # The float32 zero state keeps the recurrence in float32; the gates run in `dtype`.
    assert outputs.dtype == torch.float32
    assert torch.isfinite(outputs).all()
    reference, _ = net(x)
    torch.testing.assert_close(outputs, reference, rtol=0.05, atol=0.05)
    last[-1].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    net = ConvGRU(8, ConvGRUConfig(hidden_dim=8, num_layers=2)).eval()
    x = torch.randn(2, 3, 8, 5, 5)
    expected, _ = net(x)
    net = net.to(memory_format=torch.channels_last)
    frames = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (2, 3))
    got, last = net(frames)
    assert last[0].stride(1) == 1  # the state stays channels-last
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_matches_cpu(dtype):
    torch.manual_seed(0)
    net = ConvGRU(8, ConvGRUConfig(hidden_dim=8, num_layers=2))
    x = torch.randn(2, 3, 8, 5, 5)
    expected, _ = net(x)
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        got, last = net.cuda()(x.cuda())
    assert last[0].device.type == "cuda"
    tol = 1e-4 if dtype == torch.float32 else 0.05
    torch.testing.assert_close(got.float().cpu(), expected, rtol=tol, atol=tol)
