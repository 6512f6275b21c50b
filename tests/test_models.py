"""The model zoo: registry, the shared clip-in/logits-out contract, training, weights."""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import socket

import pytest
import torch
import torch.nn.functional as F
import torchvision
from models_helpers import single_thread  # noqa: F401  (autouse fixture)

from gifemo.models import (
    ClipClassifier,
    WeightsError,
    create_model,
    list_models,
    load_pretrained,
    model_info,
    register_model,
)
from gifemo.models import weights as weights_module
from gifemo.models.complexity import clip_flops, meta_model

MODELS = list_models()
# 224 px costs up to ~160 GFLOPs a clip: only models under this budget run it here.
CHEAP_AT_224 = [n for n in MODELS if clip_flops(meta_model(n), clip_len=4, size=224) < 30e9]


def _clips(batch: int, frames: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _build(name: str, seed: int = 0, **kwargs) -> ClipClassifier:
    torch.manual_seed(seed)
    return create_model(name, **kwargs)


@functools.cache
def _pristine(name: str) -> ClipClassifier:
    """One seeded build per model for the whole module (C3D alone takes ~1 s to initialise)."""
    return _build(name).eval()


def _fresh(name: str) -> ClipClassifier:
    """A private copy of the shared build, free to train or convert."""
    return copy.deepcopy(_pristine(name))


# -- registry ---------------------------------------------------------------------------


def test_registry_lists_the_paper_and_its_baselines():
    assert set(MODELS) == {"resnet_convgru", "vgg_convgru", "resnet3d", "cnn_lstm", "c3d"}
    assert MODELS == sorted(MODELS)
    assert list_models("*convgru") == ["resnet_convgru", "vgg_convgru"]


def test_duplicate_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):

        @register_model(paper="-", reference="-", summary="-", backbone="resnet18")
        def resnet_convgru(*, num_classes: int = 7, clip_len: int = 4):  # pragma: no cover
            raise AssertionError("never built")

    assert model_info("resnet_convgru").paper == "Zhang et al. 2022"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"unknown model 'resnet_convgrue'.*'resnet_convgru'.*c3d"):
        create_model("resnet_convgrue")


def test_builder_kwargs_and_metadata():
    model = _build("resnet_convgru", num_classes=3, clip_len=6, hidden_dim=(32, 16), head_hidden=8)
    assert model.num_classes == 3 and model.clip_len == 6
    assert [c.hidden_dim for c in model.convgru.cells] == [32, 16]
    cfg = model.default_cfg
    assert cfg["name"] == "resnet_convgru" and cfg["backbone"] == "resnet18"
    assert (cfg["min_frames"], cfg["max_frames"], cfg["input"]) == (2, 8, "(B, T, 3, S, S)")
    assert cfg["weights"]["imagenet"]["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert model(_clips(2, 2, 64)).shape == (2, 3)
    with pytest.raises(TypeError):
        create_model("resnet_convgru", no_such_knob=1)


def test_reset_classifier_and_input_check():
    model = _build("cnn_lstm").eval()
    model.reset_classifier(11)
    assert model.num_classes == 11 and model.get_classifier().out_features == 11
    assert model(_clips(1, 2, 64)).shape == (1, 11)
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        model(torch.randn(1, 3, 2, 64, 64))


# -- the contract every model keeps ------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_for_clip_lengths_and_sizes(name):
    model = _pristine(name)
    # Other tests cover T=2..4 at 32-64 px; here the longest clip, and the larger sizes.
    cases = [(8, 64), (2, 112)] + ([(5, 224)] if name in CHEAP_AT_224 else [])
    with torch.no_grad():
        for frames, size in cases:
            logits = model(_clips(1, frames, size))
            assert logits.shape == (1, 7), (frames, size)
            assert torch.isfinite(logits).all(), (frames, size)


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic_and_channels_last_agrees(name):
    model = _pristine(name)
    clips = _clips(1, 3, 64)
    channels_last = _fresh(name).to_channels_last()
    first_conv = next(p for p in channels_last.parameters() if p.dim() >= 4)
    assert first_conv.is_contiguous(memory_format=channels_last.memory_format)
    with torch.no_grad():
        first, second = model(clips), model(clips)
        assert torch.equal(first, second)
        torch.testing.assert_close(channels_last(clips), first, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("name", "dtype"),
    [(n, torch.bfloat16) for n in MODELS]
    # CPUs without float16 arithmetic emulate it (resnet3d: ~30x slower): cheap models only,
    # which include the LSTM's float32 fallback.
    + [(n, torch.float16) for n in CHEAP_AT_224],
    ids=str,
)
def test_cpu_autocast_forward_is_finite_and_close(name, dtype):
    model = _pristine(name)
    clips = _clips(1, 2, 64)
    with torch.no_grad():
        reference = model(clips)
        with torch.autocast("cpu", dtype=dtype):
            logits = model(clips)
    assert logits.shape == (1, 7) and torch.isfinite(logits).all()
    # Low precision through 8-20 layers: agreement to a tenth of the logits' spread.
    assert (logits.float() - reference).abs().max() <= 0.1 * reference.abs().max() + 0.05


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_backward_reaches_every_parameter(name, precision):
    model = _fresh(name).to_channels_last().train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = F.cross_entropy(model(_clips(2, 2, 32)), torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(loss)
    first_weight = next(model.backbone.parameters())
    assert first_weight.grad is not None and first_weight.grad.abs().sum() > 0
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname


def _distinct_clips(batch: int, frames: int, size: int, seed: int) -> torch.Tensor:
    """Smooth unit-variance colour fields, one per frame: content as distinct as GIF scenes.

    White noise would do for the ResNets, but after 16 plain conv+ReLU layers VGG19 maps
    noise frames to near-identical features (cosine ~0.99), which stretches memorising
    them to 60+ steps; low-frequency fields keep the clips apart from the first step.
    """
    coarse = torch.randn(batch * frames, 3, 2, 2, generator=torch.Generator().manual_seed(seed))
    fields = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return (fields / fields.std()).unflatten(0, (batch, frames))


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_overfits_eight_clips(name):
    """Memorising 8 fixed 64 px clips: only a model whose every part learns gets there.

    Float32 and channels-last (bfloat16 would be emulated, 7-100x slower, on CPUs without
    native bf16), the backbone at the paper's lr 1e-4 and the temporal model + head at 1e-3, no
    dropout. Seeded: the models need 4 (resnet3d) to 25 (vgg_convgru) steps; 40 leaves margin.
    """
    model = _build(name, dropout=0.0).to_channels_last().train()  # seeded like _pristine
    clips, labels = _distinct_clips(8, 2, 64, seed=1), torch.arange(8) % 7
    backbone = {id(p) for p in model.backbone.parameters()}
    optimizer = torch.optim.Adam(
        [
            {"params": list(model.backbone.parameters()), "lr": 1e-4},
            {"params": [p for p in model.parameters() if id(p) not in backbone], "lr": 1e-3},
        ]
    )
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if losses[-1] < 0.05:
            break
    assert losses[-1] < 0.1, [round(x, 3) for x in losses]


# -- weights -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backbone", "torchvision_builder", "head_prefix"),
    [
        ("resnet18", torchvision.models.resnet18, "fc."),
        ("vgg19", torchvision.models.vgg19, "classifier."),
        ("r3d_18", torchvision.models.video.r3d_18, "fc."),
    ],
)
def test_backbones_keep_torchvision_names_and_shapes(backbone, torchvision_builder, head_prefix):
    name = next(n for n in MODELS if model_info(n).backbone == backbone)
    with torch.device("meta"):
        ours = meta_model(name).backbone.state_dict()
        theirs = torchvision_builder().state_dict()
    theirs = {k: v.shape for k, v in theirs.items() if not k.startswith(head_prefix)}
    assert {k: v.shape for k, v in ours.items()} == theirs


def test_c3d_keeps_the_sports1m_port_names():
    keys = {k.rsplit(".", 1)[0] for k in meta_model("c3d").backbone.state_dict()}
    convs = ["conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b"]
    assert keys == {*convs, "fc6", "fc7"}


def test_torchvision_checkpoint_loads_with_its_head_unexpected(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = _build("resnet_convgru", pretrained=path)
    report = model.weights_report
    assert report.unexpected == ("fc.weight", "fc.bias") and report.missing == ()
    assert report.loaded == len(model.backbone.state_dict())
    torch.testing.assert_close(
        model.backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight
    )
    torch.testing.assert_close(model.backbone.bn1.running_var, reference.bn1.running_var)


@pytest.mark.parametrize("name", MODELS)
def test_local_weight_file_loads_into_the_backbone(name, tmp_path, caplog):
    # Weights unlike the seeded build's, in a training checkpoint's layout: wrapped,
    # prefixed, with a classifier the backbone lacks.
    backbone = {
        k: v + 0.5 if v.is_floating_point() else v
        for k, v in _pristine(name).backbone.state_dict().items()
    }
    state = {f"module.backbone.{k}": v for k, v in backbone.items()}
    state["module.head.out.weight"] = torch.zeros_like(_pristine(name).get_classifier().weight)
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": state, "epoch": 3}, path)

    with caplog.at_level(logging.INFO, logger="gifemo.models.weights"):
        model = _build(name, pretrained=str(path))
    report = model.weights_report
    assert report.prefix == "module.backbone." and report.missing == ()
    assert report.unexpected == ("module.head.out.weight",)
    assert str(path) in caplog.text and "unexpected: 1" in caplog.text
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone[key]), key
    assert model.get_classifier().weight.abs().sum() > 0  # the file's (zero) head was not loaded


def test_safetensors_file_and_missing_keys(tmp_path):
    from safetensors.torch import save_file

    source = _build("resnet_convgru", seed=1)
    state = {
        k: v.contiguous()
        for k, v in source.backbone.state_dict().items()
        if not k.startswith("layer4.")
    }
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    model = _build("resnet_convgru", seed=2)
    report = load_pretrained(model, path)
    assert report.loaded == len(state) and report.unexpected == ()
    assert report.missing and all(k.startswith("layer4.") for k in report.missing)
    torch.testing.assert_close(model.backbone.conv1.weight, source.backbone.conv1.weight)


class _Opaque:
    """A pickled object that ``torch.load(weights_only=True)`` must refuse."""


def test_bad_weight_files_give_clear_errors(tmp_path):
    model = _build("cnn_lstm")
    good = model.backbone.state_dict()

    wrong_shape = dict(good, **{"conv1.weight": torch.zeros(64, 3, 3, 3)})
    torch.save(wrong_shape, tmp_path / "shape.pt")
    with pytest.raises(
        WeightsError,
        match=r"shape\.pt.*conv1\.weight: file \(64, 3, 3, 3\) vs model \(64, 3, 7, 7\)",
    ):
        load_pretrained(model, tmp_path / "shape.pt")

    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "unrelated.pt")
    with pytest.raises(WeightsError, match="none of its 1 keys"):
        load_pretrained(model, tmp_path / "unrelated.pt")

    torch.save({"weights": _Opaque()}, tmp_path / "pickle.pt")
    with pytest.raises(WeightsError, match=r"pickle\.pt: not a readable weights file"):
        load_pretrained(model, tmp_path / "pickle.pt")

    (tmp_path / "garbage.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="garbage.safetensors"):
        load_pretrained(model, tmp_path / "garbage.safetensors")

    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_pretrained(model, tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match=r"neither a weights tag \(imagenet\) nor a path"):
        create_model("cnn_lstm", pretrained="imagenet21k")


def test_c3d_has_no_imagenet_weights():
    with pytest.raises(
        WeightsError, match="c3d backbone has no published torchvision weights.*PATH"
    ):
        create_model("c3d", pretrained="imagenet")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unreachable(
    monkeypatch, tmp_path, backbone: str, tag: str
) -> weights_module.TorchvisionWeights:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = weights_module.BACKBONE_WEIGHTS[backbone][tag]
    dead = dataclasses.replace(spec, url=f"http://127.0.0.1:{_closed_port()}/{spec.filename}")
    monkeypatch.setitem(weights_module.BACKBONE_WEIGHTS[backbone], tag, dead)
    return dead


def test_download_failure_is_a_clear_error(monkeypatch, tmp_path):
    dead = _unreachable(monkeypatch, tmp_path, "resnet18", "imagenet")
    with pytest.raises(WeightsError) as info:
        create_model("resnet_convgru", pretrained="imagenet")
    message = str(info.value)
    assert dead.url in message and "ImageNet-1k" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "pretrained='/path/to/resnet18-f37072fd.pth'" in message


def test_r3d_imagenet_means_kinetics_and_cached_file_needs_no_network(
    monkeypatch, tmp_path, caplog
):
    dead = _unreachable(monkeypatch, tmp_path, "r3d_18", "kinetics400")
    source = _build("resnet3d", seed=1)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / dead.filename
    cached.parent.mkdir(parents=True)
    torch.save({**source.backbone.state_dict(), "fc.weight": torch.zeros(400, 512)}, cached)

    with caplog.at_level(logging.WARNING, logger="gifemo.models.weights"):
        model = _build("resnet3d", seed=2, pretrained="imagenet")
    assert "no ImageNet weights for r3d_18" in caplog.text and "Kinetics-400" in caplog.text
    assert model.weights_report.unexpected == ("fc.weight",)
    torch.testing.assert_close(model.backbone.stem[0].weight, source.backbone.stem[0].weight)
