"""Evaluate a trained model at GIF level on a dataset, in one process, and write the report;
(:func:`gifemo.evaluation.pipeline.train_and_evaluate`: a training run followed by its test
report, what ``gifemo train`` does).

Every clip of every evaluated GIF (the data pipeline's evaluation mode: the same clips in every
run) is scored in batches; clip probabilities are pooled per GIF; the per-GIF table is saved and
the report computed from it (:mod:`gifemo.evaluation.report`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from gifemo.evaluation.calibration import ClipLogits
from gifemo.evaluation.metrics import GifPredictions
from gifemo.evaluation.report import write_report
from gifemo.hardware import resolve_compute
from gifemo.models.base import clip_probabilities

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("test", "val", "train", "all")


@torch.inference_mode()
def score_clips(
    model: nn.Module,
    dataset,
    *,
    labels: tuple[str, ...],
    batch_size: int = 30,
    workers: int = 0,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    channels_last: bool | None = None,
) -> ClipLogits:
    """The raw logits of every clip of a :class:`~gifemo.data.dataset.ClipDataset` (evaluation
    mode), with the GIF each comes from: what :meth:`ClipLogits.pooled` turns into GIF
    intensities at any temperature.

    ``model`` maps ``(B, T, 3, S, S) -> (B, C)`` logits. ``precision``: ``"auto"``, ``"32"``,
    ``"bf16-mixed"`` or ``"16-mixed"`` (autocast, as in training; logits are returned in
    float32); see :func:`gifemo.hardware.resolve_compute`.
    """
    if getattr(dataset, "train", False):
        raise ValueError("evaluate with a ClipDataset in evaluation mode (train=False)")
    device = torch.device(device)
    choice = resolve_compute(precision, channels_last, device=device.type)
    model = model.eval().to(device)
    if choice.channels_last and hasattr(model, "to_channels_last"):
        model.to_channels_last()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    indices, logits, targets = [], [], []
    for clip, target, gif_index in loader:
        _, clip_logits = clip_probabilities(
            model, clip.to(device, non_blocking=True), choice.precision
        )
        logits.append(clip_logits.cpu())
        targets.append(target)
        indices.append(gif_index)
    if not logits:
        raise ValueError("the evaluation dataset holds no clip")
    gif_ids, rows = torch.unique(torch.cat(indices), sorted=True, return_inverse=True)
    cache = dataset.cache
    return ClipLogits(
        labels=tuple(labels),
        paths=tuple(cache.gifs[int(i)].rel_path for i in gif_ids),
        gif=rows.numpy(),
        logits=torch.cat(logits).numpy(),
        targets=torch.cat(targets).numpy(),
    )


def predict_gifs(
    model: nn.Module, dataset, *, temperature: float = 1.0, **options
) -> GifPredictions:
    """Score every clip of ``dataset`` (:func:`score_clips`, same ``options``) and pool the clip
    probabilities ``softmax(logits / temperature)`` per GIF."""
    return score_clips(model, dataset, **options).pooled(temperature)


def _check_labels(dataset, labels: tuple[str, ...], data: Path) -> list[str]:
    """Refuse a dataset with labels the model does not know; return the model's labels it lacks."""
    unknown = sorted({label for _, label in dataset.problems.unknown_labels})
    if unknown:
        raise ValueError(
            f"{data}: label(s) {unknown} are not in the model's label set {list(labels)} "
            f"({len(dataset.problems.unknown_labels)} GIFs); evaluate on data with the same labels"
        )
    present = {r.label for r in dataset.records}
    return [label for label in labels if label not in present]


def _same_path(a: str | Path, b: str | Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


@dataclass(frozen=True)
class ScoredSplit:
    """The clip logits of one split of a dataset under a run's checkpoint, and what they are."""

    trained: Any  #: the TrainedModel (with its temperature when calibrated)
    run_dir: Any  #: RunDir, or None for a bare checkpoint file
    config: Any  #: the run's TrainConfig, or None
    data: Path
    in_domain: bool  #: the run's own dataset
    split: str
    split_sizes: dict[str, int]
    missing: list[str]  #: labels of the model without a GIF in ``data``
    skipped: list[str]  #: GIFs that could not be decoded
    seed: int
    device: str
    choice: Any  #: the resolved precision (gifemo.hardware.ComputeChoice)
    clips: ClipLogits


def score_split(
    run: str | Path,
    *,
    data: str | Path | None = None,
    split: str | None = None,
    which: str = "auto",
    calibrated: bool = True,
    batch_size: int | None = None,
    workers: int | None = None,
    device: str | None = None,
    precision: str | None = "auto",
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> ScoredSplit:
    """Load the checkpoint and the dataset, pick the split's GIFs and score all their clips
    (:func:`score_clips`): what :func:`evaluate_run` reports on and ``gifemo calibrate`` fits a
    temperature on. The arguments are :func:`evaluate_run`'s."""
    from gifemo.data.cache import build_cache
    from gifemo.data.dataset import ClipDataset
    from gifemo.data.sources import load_dataset
    from gifemo.data.split import load_split
    from gifemo.training.checkpoint import load_trained_model
    from gifemo.training.config import TrainConfig
    from gifemo.training.run_dir import CONFIG_FILE, SPLIT_FILE, RunDir

    run = Path(run)
    run_dir = RunDir(run) if run.is_dir() else None
    config = TrainConfig.load(run_dir.config_file) if run_dir and run_dir.is_run else None
    if data is None:
        if config is None:
            raise ValueError(f"{run}: no {CONFIG_FILE} to take the dataset from; pass data=")
        data = config.data
    data = Path(data)
    in_domain = config is not None and _same_path(data, config.data)
    split = split or ("test" if in_domain else "all")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")

    trained = load_trained_model(run, which=which, calibrated=calibrated)
    dataset = load_dataset(data, labels=trained.labels)
    missing = _check_labels(dataset, trained.labels, data)
    cache_dir = cache_dir if cache_dir is not None else (config.cache_dir if config else None)
    cache = build_cache(
        dataset, size=trained.preprocess.size, cache_dir=cache_dir, progress=progress
    )

    ids = list(range(len(dataset)))
    split_sizes: dict[str, int] = {}
    if split != "all":
        split_file = run_dir.split_file if run_dir else None
        if split_file is None or not split_file.is_file():
            raise ValueError(f"{run}: no {SPLIT_FILE}; evaluate split='all' or on a run directory")
        sides, _ = load_split(split_file).indices(dataset)
        split_sizes = {name: len(idx) for name, idx in sides.items() if idx}
        ids = sides[split]
        if not ids:
            raise ValueError(
                f"{data}: no GIF of this dataset is on the {split!r} side of {split_file}"
            )
    usable = set(cache.valid_indices)
    skipped = [dataset.records[i].rel_path for i in ids if i not in usable]
    for path in skipped:
        log.warning("%s: cannot be decoded, left out of the evaluation", path)
    ids = [i for i in ids if i in usable]

    seed = config.seed if config else 0
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    choice = resolve_compute(precision, None, device=device)
    clips = ClipDataset(cache, ids, preprocess=trained.preprocess, train=False, seed=seed)
    scored = score_clips(
        trained.model,
        clips,
        labels=trained.labels,
        batch_size=batch_size or (config.batch_size if config else 30),
        workers=workers if workers is not None else (config.workers if config else 0),
        device=device,
        precision=choice.precision,
        channels_last=choice.channels_last,
    )
    return ScoredSplit(
        trained=trained,
        run_dir=run_dir,
        config=config,
        data=data,
        in_domain=in_domain,
        split=split,
        split_sizes=split_sizes,
        missing=missing,
        skipped=skipped,
        seed=seed,
        device=device,
        choice=choice,
        clips=scored,
    )


def evaluate_run(
    run: str | Path,
    *,
    data: str | Path | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    which: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    device: str | None = None,
    precision: str | None = "auto",
    cache_dir: str | Path | None = None,
    n_resamples: int = 1000,
    progress: bool = True,
    calibrated: bool = True,
) -> dict[str, Any]:
    """Evaluate a checkpoint of run dir ``run`` and write the report.

    Args:
        run: a run dir (its ``config.yaml`` and ``split.csv`` are used) or a ``.ckpt`` file
            (then ``data`` is required and every GIF is evaluated).
        data: dataset to evaluate on (default: the run's). Its labels must be in the model's
            label set; a class it lacks is reported with support 0.
        split: ``"test"``, ``"val"``, ``"train"`` (sides of the run's ``split.csv``, matched by
            content) or ``"all"``. Default: ``"test"`` on the run's data, ``"all"`` otherwise.
        out: report directory. Default: the run dir for its own test split, else
            ``RUN_DIR/evaluations/<data name>-<split>/``.
        which: ``"auto"``, ``"best"`` or ``"last"`` checkpoint.
        batch_size, workers: DataLoader settings (default: the run's).
        device: ``"cpu"``, ``"cuda"``... (default: CUDA if available).
        precision: ``"auto"`` (default: what is fast on this machine, see
            :func:`gifemo.hardware.resolve_compute`), ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"``
            (CUDA). Pass the run's own precision to reproduce its validation bit for bit.
        calibrated: apply the run's temperature (``calibration.json``) as prediction does, and
            report the calibration before and after it; False evaluates the raw model.

    Returns:
        The report dict (also written to ``report.json``).
    """
    from gifemo.hardware import hardware_line
    from gifemo.training.run_dir import training_summary

    started = time.perf_counter()
    scored = score_split(
        run,
        data=data,
        split=split,
        which=which,
        calibrated=calibrated,
        batch_size=batch_size,
        workers=workers,
        device=device,
        precision=precision,
        cache_dir=cache_dir,
        progress=progress,
    )
    trained, run_dir, config, data = scored.trained, scored.run_dir, scored.config, scored.data
    split, choice, seed = scored.split, scored.choice, scored.seed
    # The GIFs as prediction scores them (the run's temperature), and raw when that differs.
    predictions = scored.clips.pooled(trained.temperature)
    uncalibrated = scored.clips.pooled(1.0) if trained.temperature != 1.0 else None

    if out is None:
        if run_dir is None:
            raise ValueError("evaluating a checkpoint file needs out=")
        out = (
            run_dir.path
            if (scored.in_domain and split == "test")
            else run_dir.evaluation_dir(f"{data.stem}-{split}")
        )
    meta = trained.metadata
    context: dict[str, Any] = {
        "model": trained.model_name,
        "model_kwargs": trained.model_kwargs,
        "checkpoint": str(trained.checkpoint_path),
        "checkpoint_epoch": meta.get("epochs_done"),
        "checkpoint_metrics": meta.get("metrics", {}),
        "data": str(data.resolve()),
        "data_name": data.stem if data.is_dir() or data.suffix else str(data),
        "out_of_domain": not scored.in_domain,
        "split": split,
        "split_sizes": scored.split_sizes,
        "split_seed": seed,
        "labels_without_gifs": scored.missing,
        "undecodable": scored.skipped,
        "precision": choice.precision,
        "precision_reason": choice.reason,
        "channels_last": choice.channels_last,
        "device": scored.device,
        "hardware": hardware_line(),
        "training": training_summary(run_dir.path, config, meta) if run_dir and config else {},
        "temperature": trained.temperature,
        "calibration": meta.get("calibration"),
    }
    context["wall_time_s"] = time.perf_counter() - started
    return write_report(
        out,
        predictions,
        context,
        n_resamples=n_resamples,
        seed=seed,
        uncalibrated=uncalibrated,
    )
