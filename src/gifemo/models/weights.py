"""Pretrained backbone weights: torchvision's published files, or a local state dict.

``pretrained`` (in :func:`gifemo.models.create_model`) is one of

- ``None``: random initialisation;
- a tag such as ``"imagenet"``: torchvision's weights for the model's backbone, downloaded
  once by ``torch.hub`` into ``$TORCH_HOME/hub/checkpoints`` (the cache torchvision itself
  uses; ``torch.hub`` writes to a temporary file and renames it, so a killed download
  leaves no partial file). ``"imagenet"`` is accepted by every model with torchvision
  weights and means "the backbone's standard torchvision weights": for ``r3d_18`` these
  are Kinetics-400 (torchvision has no ImageNet video weights), which is logged;
- a path to a ``.pt``/``.pth``/``.bin``/``.ckpt`` file (read with ``torch.load(...,
  weights_only=True)``, a bare state dict or one under ``"state_dict"``/``"model"``) or a
  ``.safetensors`` file. Its tensors load into the backbone only.

Key names are matched to the backbone whatever the file's prefix (``module.``,
``model.backbone.``...): the prefix shared by most keys that name a backbone tensor wins.
Keys outside the backbone are reported as unexpected, backbone tensors absent from the
file as missing; a shape mismatch is an error.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, VGG19_Weights, WeightsEnum
from torchvision.models.video import R3D_18_Weights

logger = logging.getLogger(__name__)

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
WEIGHT_SUFFIXES = (*TORCH_SUFFIXES, ".safetensors")


class WeightsError(ValueError):
    """Pretrained weights could not be found, downloaded, read or loaded (message says why).

    A ``ValueError``: ``pretrained=`` is user input, and the command line reports
    ``ValueError``s as one clean line.
    """


@dataclass(frozen=True)
class TorchvisionWeights:
    """One published torchvision weight file for a backbone."""

    enum: WeightsEnum
    dataset: str
    url: str

    @classmethod
    def of(cls, enum: WeightsEnum, dataset: str) -> TorchvisionWeights:
        return cls(enum=enum, dataset=dataset, url=enum.url)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """Input normalisation the weights were trained with, where torchvision records it."""
        preset = self.enum.transforms()
        mean, std = getattr(preset, "mean", None), getattr(preset, "std", None)
        return (tuple(mean), tuple(std)) if mean is not None and std is not None else None


#: Backbone name -> {tag: weights}. C3D has none: torchvision does not ship it.
BACKBONE_WEIGHTS: dict[str, dict[str, TorchvisionWeights]] = {
    "resnet18": {"imagenet": TorchvisionWeights.of(ResNet18_Weights.IMAGENET1K_V1, "ImageNet-1k")},
    "vgg19": {"imagenet": TorchvisionWeights.of(VGG19_Weights.IMAGENET1K_V1, "ImageNet-1k")},
    "r3d_18": {"kinetics400": TorchvisionWeights.of(R3D_18_Weights.KINETICS400_V1, "Kinetics-400")},
    "c3d": {},
}


@dataclass(frozen=True)
class WeightsLoadReport:
    """What loading a state dict into a backbone did."""

    source: str
    backbone: str
    loaded: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    prefix: str = ""

    def __str__(self) -> str:
        def names(keys: tuple[str, ...]) -> str:
            shown = ", ".join(keys[:8]) + (f", ... (+{len(keys) - 8})" if len(keys) > 8 else "")
            return f"{len(keys)} ({shown})" if keys else "none"

        strip = f" (key prefix {self.prefix!r} stripped)" if self.prefix else ""
        return (
            f"loaded {self.loaded} tensors into the {self.backbone} backbone from "
            f"{self.source}{strip}; "
            f"missing: {names(self.missing)}; unexpected: {names(self.unexpected)}"
        )


def backbone_tags(backbone: str) -> tuple[str, ...]:
    """The ``pretrained=`` tags a backbone accepts (``"imagenet"`` wherever weights exist)."""
    tags = tuple(BACKBONE_WEIGHTS.get(backbone, {}))
    return tuple(dict.fromkeys(("imagenet", *tags))) if tags else ()


def resolve_tag(backbone: str, tag: str) -> TorchvisionWeights:
    """The torchvision weights that ``tag`` names for ``backbone``."""
    table = BACKBONE_WEIGHTS.get(backbone, {})
    if not table:
        raise WeightsError(
            f"the {backbone} backbone has no published torchvision weights, so pretrained={tag!r} "
            f"cannot be honoured; pass pretrained=PATH to a local .pt/.pth/.safetensors state dict"
        )
    key = tag.lower()
    if key in table:
        return table[key]
    if key == "imagenet":
        (name, spec), *_ = table.items()
        logger.warning(
            "torchvision has no ImageNet weights for %s; "
            "pretrained='imagenet' loads its %s weights (%s)",
            backbone,
            spec.dataset,
            name,
        )
        return spec
    raise WeightsError(
        f"unknown weights tag {tag!r} for the {backbone} backbone; known tags: "
        f"{', '.join(backbone_tags(backbone))}, or a path to a {'/'.join(WEIGHT_SUFFIXES)} file"
    )


def download_state_dict(spec: TorchvisionWeights) -> dict[str, torch.Tensor]:
    """Fetch (or read from the torch.hub cache) a torchvision weight file."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / spec.filename
    try:
        return torch.hub.load_state_dict_from_url(
            spec.url, map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except OSError as err:  # URLError, refused connections and DNS failures are all OSErrors
        reason = getattr(err, "reason", err)
        raise WeightsError(
            f"could not download the {spec.dataset} weights {spec.enum!r} from {spec.url} "
            f"({reason}). Without internet access, fetch that file on another machine and "
            f"either place it at {cached} or pass pretrained='/path/to/{spec.filename}'"
        ) from None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise WeightsError(
            f"{path}: unsupported weights file type {suffix!r}; "
            f"use one of {', '.join(WEIGHT_SUFFIXES)}"
        )
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        if suffix == ".safetensors":
            obj = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (
        SafetensorError,
        pickle.UnpicklingError,
        RuntimeError,
        OSError,
        ValueError,
        EOFError,
    ) as err:
        raise WeightsError(
            f"{path}: not a readable weights file ({type(err).__name__}: {err})"
        ) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(
            f"{path}: expected a state dict (a mapping of names to tensors), "
            f"got {type(obj).__name__}"
        )
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{path}: entries that are not tensors: {', '.join(map(str, bad[:5]))}")
    return dict(obj)


def _shared_prefix(file_keys: list[str], model_keys: set[str]) -> str:
    """The prefix that, stripped, turns the most file keys into backbone keys."""
    votes: Counter[str] = Counter()
    for key in file_keys:
        for target in model_keys:
            if key == target:
                votes[""] += 1
            elif key.endswith("." + target):
                votes[key[: len(key) - len(target)]] += 1
    return votes.most_common(1)[0][0] if votes else ""


def load_backbone_state(
    backbone: nn.Module, state: Mapping[str, torch.Tensor], *, source: str, backbone_name: str
) -> WeightsLoadReport:
    """Copy the matching tensors of ``state`` into ``backbone``; report the rest."""
    expected = backbone.state_dict()
    prefix = _shared_prefix(list(state), set(expected))
    mapped = {
        k[len(prefix) :]: v
        for k, v in state.items()
        if k.startswith(prefix) and k[len(prefix) :] in expected
    }
    if not mapped:
        raise WeightsError(
            f"{source}: none of its {len(state)} keys (e.g. {next(iter(state))!r}) match the "
            f"{backbone_name} backbone (which expects e.g. {next(iter(expected))!r})"
        )
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in mapped.items()
        if v.shape != expected[k].shape
    ]
    if mismatched:
        raise WeightsError(
            f"{source}: {len(mismatched)} tensors do not fit the {backbone_name} backbone: "
            + "; ".join(mismatched[:5])
        )
    result = backbone.load_state_dict(mapped, strict=False)
    unexpected = tuple(
        k for k in state if not (k.startswith(prefix) and k[len(prefix) :] in expected)
    )
    report = WeightsLoadReport(
        source=source,
        backbone=backbone_name,
        loaded=len(mapped),
        missing=tuple(result.missing_keys),
        unexpected=unexpected,
        prefix=prefix,
    )
    (logger.warning if report.missing else logger.info)("%s", report)
    return report


def load_pretrained(model: nn.Module, pretrained: str | os.PathLike) -> WeightsLoadReport:
    """Load ``pretrained`` (a tag or a path, see the module docstring) into ``model.backbone``.

    ``model`` is a :class:`gifemo.models.base.ClipClassifier` built by the registry (its
    ``default_cfg`` names the backbone). The report is also stored as ``model.weights_report``.
    """
    backbone_name = model.default_cfg["backbone"]
    name = model.default_cfg["name"]
    text = os.fspath(pretrained)
    is_tag = not isinstance(pretrained, os.PathLike) and text.lower() in {
        "imagenet",
        *BACKBONE_WEIGHTS.get(backbone_name, {}),
    }
    if is_tag:
        spec = resolve_tag(backbone_name, text)
        state, source = download_state_dict(spec), f"{spec.enum!r} ({spec.dataset})"
    elif Path(text).suffix.lower() in WEIGHT_SUFFIXES or Path(text).exists():
        state, source = read_state_dict(text), text
    else:
        tags = backbone_tags(backbone_name)
        raise WeightsError(
            f"pretrained={text!r} for {name} is neither a weights tag "
            f"({', '.join(tags) if tags else 'this model has none'}) nor a path to a "
            f"{'/'.join(WEIGHT_SUFFIXES)} file"
        )
    report = load_backbone_state(model.backbone, state, source=source, backbone_name=backbone_name)
    model.weights_report = report
    return report
