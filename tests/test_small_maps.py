"""The tiny-map convolution route (gifemo.models.small_maps): same sums as F.conv2d, taken only
where it is meant to be."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gifemo.models import create_model, small_maps
from gifemo.models.small_maps import SmallMapConv2d, conv2d, use_small_map_convs


@pytest.fixture
def unfold_calls(monkeypatch):
    """Counts the calls of F.unfold, i.e. how often the matmul route ran."""
    calls = []
    real = F.unfold

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "unfold", counting)
    return calls


# (input shape, weight shape, stride, padding, dilation): ResNet18 layer4 at 64 px (2x2 maps,
# a stride-2 entry and its 1x1 downsample), the ConvGRU's convolutions, a 1x4 map, a dilation.
ROUTED = [
    ((6, 32, 2, 2), (16, 32, 3, 3), 1, 1, 1),
    ((6, 16, 4, 4), (32, 16, 3, 3), 2, 1, 1),
    ((6, 16, 4, 4), (32, 16, 1, 1), 2, 0, 1),
    ((3, 24, 1, 4), (8, 24, 3, 3), 1, 1, 1),
    ((3, 8, 2, 2), (8, 8, 3, 3), 1, 2, 2),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding", "dilation"), ROUTED)
def test_the_matmul_route_gives_conv2d_values_and_gradients(
    unfold_calls, x_shape, w_shape, stride, padding, dilation, with_bias, channels_last
):
    torch.manual_seed(0)
    x = torch.randn(x_shape, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(w_shape, dtype=torch.float64)
    b = torch.randn(w_shape[0], dtype=torch.float64) if with_bias else None
    leaves = [t.clone().requires_grad_() for t in (x, w) + ((b,) if with_bias else ())]
    ref_leaves = [t.clone().requires_grad_() for t in (x, w) + ((b,) if with_bias else ())]

    out = conv2d(*leaves, stride=stride, padding=padding, dilation=dilation)
    ref = F.conv2d(*ref_leaves, stride=stride, padding=padding, dilation=dilation)
    assert len(unfold_calls) == 1  # the route was taken
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref)
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    grad = torch.randn_like(ref)
    out.backward(grad)
    ref.backward(grad)
    for mine, theirs in zip(leaves, ref_leaves, strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad)


def test_larger_maps_and_grouped_convolutions_use_conv2d(unfold_calls):
    x = torch.randn(2, 8, 3, 3)  # a 3x3 output: 9 pixels > MAX_OUTPUT_PIXELS
    torch.testing.assert_close(
        conv2d(x, torch.randn(4, 8, 3, 3), padding=1).shape, torch.Size([2, 4, 3, 3])
    )
    conv2d(torch.randn(2, 8, 2, 2), torch.randn(8, 4, 3, 3), padding=1, groups=2)
    assert unfold_calls == []


def test_setting_the_limit_to_zero_turns_the_route_off(unfold_calls, monkeypatch):
    monkeypatch.setattr(small_maps, "MAX_OUTPUT_PIXELS", 0)
    conv2d(torch.randn(2, 8, 2, 2), torch.randn(4, 8, 3, 3), padding=1)
    assert unfold_calls == []


def test_under_bf16_autocast_the_route_stays_close_to_conv2d(unfold_calls):
    torch.manual_seed(0)
    x, w = torch.randn(8, 64, 2, 2), torch.randn(32, 64, 3, 3) / 24
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv2d(x, w, padding=1)
        ref = F.conv2d(x, w, padding=1)
    assert unfold_calls and out.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref.float(), atol=0.05, rtol=0.02)


def test_use_small_map_convs_changes_only_the_class():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert use_small_map_convs(net) is net
    assert all(isinstance(m, SmallMapConv2d) for m in (net[0], net[2]))
    assert net.state_dict().keys() == before.keys()
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key])


def test_the_papers_model_at_64px_takes_the_route_and_matches_plain_convolutions(
    unfold_calls, monkeypatch
):
    """ResNet18's layer4 (5 convolutions at 2x2) and both ConvGRU layers (one batched input
    convolution and 2 state convolutions per later step, 3 steps) run as matmuls at 64 px."""
    torch.manual_seed(0)
    model = create_model("resnet_convgru").eval()
    clip = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        routed = model(clip)
        n_routed = len(unfold_calls)
        monkeypatch.setattr(small_maps, "MAX_OUTPUT_PIXELS", 0)
        plain = model(clip)
    assert n_routed == 5 + 2 * (1 + 2 * 3)
    assert len(unfold_calls) == n_routed  # nothing more once turned off
    torch.testing.assert_close(routed, plain, atol=1e-4, rtol=1e-4)
