"""Model registry, timm/torchvision style: ``create_model(name, ...)`` and ``list_models()``.

A builder is a keyword-only function ``(*, num_classes, clip_len, **kwargs) -> ClipClassifier``
decorated with :func:`register_model`. The decorator records the model's metadata and wraps
the builder so that every model, whether built through :func:`create_model` or by calling
the builder, gets the same ``default_cfg`` and ``pretrained=`` handling.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from gifemo.models.base import ClipClassifier

Builder = Callable[..., ClipClassifier]


@dataclass(frozen=True)
class ModelCard:
    """A registered model's metadata (what ``model.default_cfg`` holds, as a dict)."""

    name: str
    paper: str  # short citation, e.g. "Tran et al. 2015"
    reference: str  # full title
    summary: str
    backbone: str
    min_frames: int = 2
    max_frames: int = 8
    sizes: tuple[int, ...] = (64, 112, 224)
    input: str = "(B, T, 3, S, S)"

    @property
    def pretrained_tags(self) -> tuple[str, ...]:
        from gifemo.models.weights import backbone_tags

        return backbone_tags(self.backbone)

    def to_dict(self) -> dict[str, Any]:
        from gifemo.models.weights import BACKBONE_WEIGHTS

        weights = {
            tag: {
                "weights": repr(spec.enum),
                "dataset": spec.dataset,
                "url": spec.url,
                "mean_std": spec.mean_std,
            }
            for tag, spec in BACKBONE_WEIGHTS.get(self.backbone, {}).items()
        }
        return {
            **asdict(self),
            "sizes": list(self.sizes),
            "pretrained_tags": list(self.pretrained_tags),
            "weights": weights,
        }


_REGISTRY: dict[str, tuple[Builder, ModelCard]] = {}


def register_model(
    *, paper: str, reference: str, summary: str, backbone: str, name: str | None = None, **info: Any
) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` (default: the function's name). Names are unique."""

    def decorate(builder: Builder) -> Builder:
        model_name = name or builder.__name__
        if model_name in _REGISTRY:
            raise ValueError(f"a model named {model_name!r} is already registered")
        meta = ModelCard(
            name=model_name,
            paper=paper,
            reference=reference,
            summary=summary,
            backbone=backbone,
            **info,
        )

        @functools.wraps(builder)
        def build(
            *,
            num_classes: int = 7,
            clip_len: int = 4,
            pretrained: str | os.PathLike | None = None,
            **kwargs: Any,
        ) -> ClipClassifier:
            model = builder(num_classes=num_classes, clip_len=clip_len, **kwargs)
            model.default_cfg = {
                **meta.to_dict(),
                "memory_format": str(model.memory_format).removeprefix("torch."),
            }
            if pretrained is not None:
                from gifemo.models.weights import load_pretrained

                load_pretrained(model, pretrained)
            return model

        _REGISTRY[model_name] = (build, meta)
        return build

    return decorate


def _ensure_builtin_models() -> None:
    import gifemo.models  # noqa: F401  (importing the package registers the built-in models)


def _lookup(name: str) -> tuple[Builder, ModelCard]:
    _ensure_builtin_models()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, sorted; ``pattern`` filters with shell wildcards (``"*convgru"``)."""
    _ensure_builtin_models()
    names = sorted(_REGISTRY)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def model_info(name: str) -> ModelCard:
    """Metadata of a registered model, without building it."""
    return _lookup(name)[1]


def create_model(
    name: str,
    *,
    num_classes: int = 7,
    clip_len: int = 4,
    pretrained: str | os.PathLike | None = None,
    **kwargs: Any,
) -> ClipClassifier:
    """Build the registered model ``name``.

    ``pretrained``: ``None``, a weights tag (``"imagenet"``) or a path to a local state dict,
    loaded into the backbone (see :mod:`gifemo.models.weights`). Other keyword arguments go
    to the model's builder.
    """
    builder, _ = _lookup(name)
    return builder(num_classes=num_classes, clip_len=clip_len, pretrained=pretrained, **kwargs)
