"""The training configuration: one dataclass, saved as ``RUN_DIR/config.yaml``.

Defaults are the paper's Table 1 (Adam, lr 1e-4, weight decay 1e-4, batch 30, 100 epochs,
cross-entropy, seven classes) with its 4-frame clips at 224 px. Every field maps 1:1 to a
``gifemo train`` flag (``batch_size`` <-> ``--batch-size``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gifemo.atomic import atomic_write_text
from gifemo.hardware import normalize_precision

ACCELERATORS: tuple[str, ...] = ("cpu", "gpu", "auto")

#: Fields that may differ from the saved config when resuming a run: they change how long or
#: how fast it runs, not what it computes (``epochs`` extends or shortens the schedule;
#: precision and memory format change rounding, not the model, so a run started on one machine
#: can go on at the speed of another's).
RESUMABLE_OVERRIDES: frozenset[str] = frozenset(
    {
        "epochs",
        "workers",
        "precision",
        "channels_last",
        "val_every",
        "compile",
        "device_transforms",
    }
)

#: The fields the data pipeline reads: keyword arguments of the same name of
#: :class:`~gifemo.data.datamodule.GifDataModule` (see :meth:`TrainConfig.data_options`).
DATA_FIELDS: tuple[str, ...] = (
    "size",
    "clip_len",
    "batch_size",
    "workers",
    "seed",
    "test_fraction",
    "val_fraction",
    "max_clips_per_gif",
    "augment",
    "cache_dir",
    "device_transforms",
)


#: Learning-rate schedules of ``TrainConfig.lr_schedule``.
LR_SCHEDULES: tuple[str, ...] = ("constant", "onecycle")


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    ``data`` is a dataset folder (``ROOT/<label>/*.gif``) or CSV manifest. ``model_kwargs`` go to
    the model builder (e.g. ``{"hidden_dim": 64}``). ``pretrained`` is ``None`` (or ``"none"``), a
    weights tag (``"imagenet"``) or a path to a backbone state dict. ``precision`` is ``"auto"`` or
    Lightning's (``"32"``, ``"bf16-mixed"`` (CPU and GPU), ``"16-mixed"`` (CUDA only));
    ``channels_last`` is a bool or ``None`` (auto). ``auto`` picks what is fast on the machine that
    trains (:func:`gifemo.hardware.resolve_compute`; the paper says nothing about precision), and
    the run's saved ``config.yaml`` holds the resolved values. ``devices > 1`` trains with DDP (gloo
    on CPU, NCCL on GPU). ``max_clips_per_gif`` caps the training clips one GIF gives per epoch
    (``None``: all of them, as the paper). ``val_fraction > 0`` keeps a validation split apart from
    test for model selection (the paper validates on test); ``val_every`` validates every N-th epoch
    only (and at none in between: their ``metrics.csv`` rows have empty validation cells), which
    saves the validation pass where no per-epoch model selection is needed.
    """

    data: str
    model: str = "resnet_convgru"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    epochs: int = 100
    batch_size: int = 30
    lr: float = 1e-4
    weight_decay: float = 1e-4
    #: "constant" (the paper's Adam) or "onecycle": warm up to ``lr`` over the first 30 % of
    #: the steps, then anneal to ~0 (torch's OneCycleLR); reaches more in few epochs.
    lr_schedule: str = "constant"
    clip_len: int = 4
    size: int = 224
    seed: int = 0
    precision: str = "auto"
    devices: int = 1
    num_nodes: int = 1  #: machines; DDP over devices * num_nodes processes
    accelerator: str = "auto"
    workers: int = 2
    max_clips_per_gif: int | None = None
    augment: bool = False
    channels_last: bool | None = None
    test_fraction: float = 0.2
    val_fraction: float = 0.0
    val_every: int = 1
    cache_dir: str | None = None
    tensorboard: bool = False
    #: torch.compile (inductor) the model: True, False or None (auto, see
    #: gifemo.models.compilation.resolve_compile); config.yaml holds the resolved value.
    compile: bool | None = None
    #: uint8 batches normalised and augmented on the training device: True, False or None
    #: (auto: on for GPUs, off on the CPU); the same numbers either way.
    device_transforms: bool | None = None

    def __post_init__(self) -> None:
        # Absolute paths, so that a run dir can be evaluated or resumed from any directory.
        self.data = _absolute(self.data)
        self.cache_dir = _absolute(self.cache_dir) if self.cache_dir is not None else None
        self.precision = normalize_precision(self.precision)
        self.model_kwargs = dict(self.model_kwargs or {})
        self.pretrained = normalize_pretrained(self.pretrained)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field out of range."""
        positive = ("epochs", "batch_size", "clip_len", "devices", "val_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1, got {self.num_nodes}")
        if self.size < 16:
            raise ValueError(f"size must be >= 16 px, got {self.size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"
            )
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.accelerator not in ACCELERATORS:
            raise ValueError(
                f"accelerator must be one of {', '.join(ACCELERATORS)}, got {self.accelerator!r}"
            )
        if self.max_clips_per_gif is not None and self.max_clips_per_gif < 1:
            raise ValueError(
                f"max_clips_per_gif must be >= 1 or None, got {self.max_clips_per_gif}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 0.0 <= self.val_fraction < 1.0 - self.test_fraction:
            raise ValueError(
                f"val_fraction must be in [0, 1 - test_fraction), got {self.val_fraction}"
            )

    def data_options(self) -> dict[str, Any]:
        """The data pipeline's settings (:data:`DATA_FIELDS`), as GifDataModule's keywords."""
        return {name: getattr(self, name) for name in DATA_FIELDS}

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {unknown}; known: {sorted(known)}")
        if "data" not in values:
            raise ValueError(f"{source}: missing the required field 'data'")
        return cls(**values)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, self.to_yaml())
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a YAML mapping of config fields")
        return cls.from_dict(values, source=str(path))

    # -- overrides -------------------------------------------------------------------

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def resume_with(self, overrides: dict[str, Any], *, source: str = "the run") -> TrainConfig:
        """This (saved) config with the flags given on a ``--resume`` command line applied.

        Flags equal to the saved value are accepted; ``epochs`` and ``workers`` may change;
        anything else that differs raises ``ValueError`` listing every conflict.
        """
        saved = self.to_dict()
        unknown = sorted(set(overrides) - set(saved))
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}")
        conflicts = [
            f"--{name.replace('_', '-')}: saved {saved[name]!r}, given {value!r}"
            for name, value in overrides.items()
            if name not in RESUMABLE_OVERRIDES
            and _normalise(name, value) != _normalise(name, saved[name])
        ]
        if conflicts:
            raise ValueError(
                f"cannot resume {source} with settings that differ from its config.yaml "
                f"(only {', '.join(sorted(RESUMABLE_OVERRIDES))} may change):\n  "
                + "\n  ".join(conflicts)
            )
        return self.replace(**{k: v for k, v in overrides.items() if k in RESUMABLE_OVERRIDES})


#: Fields holding paths, compared by their resolved form.
PATH_FIELDS: frozenset[str] = frozenset({"data", "cache_dir"})


def normalize_pretrained(value: str | Path | None) -> str | None:
    """``None`` for no pretrained weights (also spelled ``"none"``), else the tag or path."""
    if value is None or str(value).strip().lower() == "none":
        return None
    return str(value)


def parse_model_kwargs(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["hidden_dim=64", "dropout=0.1"] -> {"hidden_dim": 64, "dropout": 0.1}`` (YAML values).

    Raises ``ValueError`` for an item that is not ``KEY=VALUE``.
    """
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def _normalise(name: str, value: Any) -> Any:
    if name in PATH_FIELDS and value is not None:
        return _absolute(value)
    if name == "precision":
        return normalize_precision(value)
    if name == "pretrained":
        return normalize_pretrained(value)
    return value
