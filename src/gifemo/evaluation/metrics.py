"""GIF-level metrics: clip probabilities pooled per GIF, then scikit-learn's classification metrics.

The paper classifies a GIF from its 4-frame clips. Here every clip of a GIF is scored, the
clips' softmax probabilities are averaged into the GIF's class intensities
(:func:`gifemo.data.clips.pool_clips`), and the GIF's prediction is their argmax. Accuracy gets a
percentile-bootstrap confidence interval over GIFs (``scipy.stats.bootstrap``): GIFs, not clips,
are the independent samples.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gifemo.atomic import atomic_write_text

#: Column prefix of a class probability in ``predictions.csv`` (``prob_happiness``...).
PROB_PREFIX = "prob_"
FIXED_COLUMNS: tuple[str, ...] = ("path", "label", "predicted", "n_clips", "clip_correct")


@dataclass(frozen=True)
class GifPredictions:
    """One row per evaluated GIF: its path, true class, mean clip probabilities and clip counts.

    ``probs`` is ``(G, C)`` (rows sum to 1), ``targets``, ``n_clips`` and ``clip_correct`` are
    ``(G,)``; ``labels`` names the ``C`` classes in index order.
    """

    labels: tuple[str, ...]
    paths: tuple[str, ...]
    targets: np.ndarray
    probs: np.ndarray
    n_clips: np.ndarray
    clip_correct: np.ndarray

    def __post_init__(self) -> None:
        g, c = len(self.paths), len(self.labels)
        if self.probs.shape != (g, c):
            raise ValueError(f"probs must be ({g}, {c}), got {self.probs.shape}")
        for name in ("targets", "n_clips", "clip_correct"):
            if getattr(self, name).shape != (g,):
                raise ValueError(f"{name} must be ({g},), got {getattr(self, name).shape}")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def predicted(self) -> np.ndarray:
        """``(G,)`` predicted class index (argmax of the pooled probabilities)."""
        return self.probs.argmax(axis=1)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*FIXED_COLUMNS, *(PROB_PREFIX + label for label in self.labels)])
        for i, path in enumerate(self.paths):
            writer.writerow(
                [
                    path,
                    self.labels[self.targets[i]],
                    self.labels[self.predicted[i]],
                    int(self.n_clips[i]),
                    int(self.clip_correct[i]),
                    # repr round-trips a float64 exactly
                    *(repr(float(p)) for p in self.probs[i]),
                ]
            )
        return buffer.getvalue()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, self.to_csv())
        return path

    @classmethod
    def load(cls, path: str | Path) -> GifPredictions:
        """Read a ``predictions.csv`` written by :meth:`save`; the label set is in its header."""
        path = Path(path)
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header[: len(FIXED_COLUMNS)]) != FIXED_COLUMNS:
                raise ValueError(f"{path}: expected columns {FIXED_COLUMNS + ('prob_<label>...',)}")
            labels = tuple(h[len(PROB_PREFIX) :] for h in header[len(FIXED_COLUMNS) :])
            index = {label: i for i, label in enumerate(labels)}
            rows = list(reader)
        try:
            return cls(
                labels=labels,
                paths=tuple(r[0] for r in rows),
                targets=np.array([index[r[1]] for r in rows], dtype=np.int64),
                probs=np.array(
                    [[float(x) for x in r[len(FIXED_COLUMNS) :]] for r in rows], dtype=np.float64
                ).reshape(len(rows), len(labels)),
                n_clips=np.array([int(r[3]) for r in rows], dtype=np.int64),
                clip_correct=np.array([int(r[4]) for r in rows], dtype=np.int64),
            )
        except (KeyError, ValueError, IndexError) as error:
            raise ValueError(f"{path}: malformed predictions row ({error})") from error


def bootstrap_ci(
    statistic,
    samples: tuple[np.ndarray, ...],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic`` over the rows (GIFs) of ``samples``.

    ``samples`` are ``(n,)`` arrays resampled together (the same rows in each);
    ``statistic(*resampled, axis=-1)`` is vectorised: it gets ``(..., n)`` arrays and reduces
    their last axis.
    """
    from scipy.stats import bootstrap

    samples = tuple(np.asarray(s, dtype=np.float64) for s in samples)
    n = len(samples[0])
    if n < 2:
        value = float(statistic(*samples, axis=-1)) if n else float("nan")
        return value, value
    with warnings.catch_warnings():
        # A constant statistic (all GIFs right, or all wrong) gives a zero-width interval,
        # which is the answer.
        warnings.simplefilter("ignore")
        result = bootstrap(
            samples,
            statistic,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            vectorized=True,
            paired=len(samples) > 1,
            random_state=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def accuracy_ci(
    correct: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of a 0/1 vector (one entry per GIF)."""
    return bootstrap_ci(
        np.mean, (correct,), confidence=confidence, n_resamples=n_resamples, seed=seed
    )


def accuracy_summary(
    correct: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """A report's ``accuracy`` entry for a 0/1 vector (one entry per GIF): value and CI."""
    low, high = accuracy_ci(correct, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return {
        "value": float(np.mean(correct)),
        "ci_low": low,
        "ci_high": high,
        "confidence": confidence,
        "method": f"percentile bootstrap over GIFs, {n_resamples} resamples, seed {seed}",
    }


def compute_metrics(
    predictions: GifPredictions,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every reported number, computed from the per-GIF table with scikit-learn.

    Returns a JSON-ready dict: ``accuracy`` (value, CI), ``clip_accuracy``, ``per_class``
    (precision, recall, F1, support per label: the paper's Table 2), ``macro`` and ``weighted``
    averages (Table 3), ``confusion_matrix`` (counts, rows = true class) and its row-normalised
    form ``confusion_matrix_normalized`` (a row of zeros for a class with no GIF).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if len(predictions) == 0:
        raise ValueError("no predictions to evaluate")
    y_true, y_pred = predictions.targets, predictions.predicted
    classes = list(range(len(predictions.labels)))
    accuracy = accuracy_summary(
        y_true == y_pred, confidence=confidence, n_resamples=n_resamples, seed=seed
    )
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=classes, average=average, zero_division=0
        )
        averages[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    counts = confusion_matrix(y_true, y_pred, labels=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    n_clips = int(predictions.n_clips.sum())
    return {
        "labels": list(predictions.labels),
        "n_gifs": len(predictions),
        "n_clips": n_clips,
        "accuracy": accuracy,
        "clip_accuracy": float(predictions.clip_correct.sum() / n_clips),
        "per_class": [
            {
                "label": label,
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(predictions.labels)
        ],
        **averages,
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalized": normalized.tolist(),
    }
