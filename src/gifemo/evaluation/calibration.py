"""Can a 0.8 be read as 80%? Calibration metrics of GIF-level probabilities, and temperature
scaling fitted on clip logits.

Metrics, each with a percentile-bootstrap CI over GIFs
(:func:`gifemo.evaluation.metrics.bootstrap_ci`):

* **ECE** (expected calibration error, top label): the GIFs are put in 15 equal-width bins of
  their top probability (the confidence); ECE is the mean over GIFs of
  ``|accuracy of the bin - mean confidence of the bin|`` (Guo et al. 2017). Bins are
  torchmetrics' (``[k/15, (k+1)/15)``, a confidence of exactly 1 in a bin of its own), and a
  test checks these numbers against ``torchmetrics``' ``MulticlassCalibrationError`` and
  ``BinaryCalibrationError``. They are computed here with numpy, vectorised over bootstrap
  resamples: torchmetrics takes ~15 ms a call, and a CI needs a thousand.
* **classwise ECE**: the same per class, on ``p_k`` against "is of class k", averaged over the
  classes (Kull et al. 2019).
* **Brier score**: mean over GIFs of ``sum_k (p_k - y_k)^2`` (multi-class, 0 best, 2 worst).
* **NLL**: mean over GIFs of ``-log p_true``.

Temperature scaling (Guo et al. 2017) divides each clip's logits by one ``T > 0`` before its
softmax; a GIF's intensities stay the mean of its clips' (now calibrated) probabilities, so
``T`` is fitted by minimising the NLL of those **GIF-level pooled probabilities** on a held-out
split, not the clip-level NLL: the pooled numbers are what gifemo reports and what a user reads,
clips of one GIF are not independent samples, and a clip need not show its GIF's emotion (a
clip-level fit would push ``T`` to explain clips whose label is only the GIF's). The fit is a
bounded 1-D search over ``log T`` (``scipy.optimize.minimize_scalar``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gifemo.evaluation.metrics import GifPredictions, bootstrap_ci

#: Bins of the ECE and of the reliability diagram.
N_BINS = 15
#: The temperatures the fit may choose from (a wider range means a broken model, not a
#: calibration problem).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Probabilities are clipped here before the log of the NLL (a 0 would make it infinite).
EPS = 1e-12


# -- metrics, vectorised over leading (bootstrap) axes -----------------------------------------


def _binned_gap(confidence: np.ndarray, hit: np.ndarray, n_bins: int) -> np.ndarray:
    """``sum over bins |sum(hit) - sum(confidence)| / n`` along the last axis.

    ``confidence`` and ``hit`` are ``(..., n)``; the result is ``(...)``. That sum is
    ``sum_b (n_b / n) |acc_b - conf_b|``, the ECE, without dividing by empty bins.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(hit, dtype=np.float64)
    lead, n = confidence.shape[:-1], confidence.shape[-1]
    boundaries = np.linspace(0.0, 1.0, n_bins + 1)
    # side="right" - 1 is torchmetrics' bucketize(right=True) - 1: [k/n, (k+1)/n), 1.0 alone.
    bins = np.searchsorted(boundaries, confidence, side="right") - 1
    rows = np.arange(int(np.prod(lead, dtype=np.int64))).reshape(*lead, 1)
    flat = (bins + rows * (n_bins + 1)).ravel()
    size = rows.size * (n_bins + 1)
    gap = np.bincount(flat, weights=(hit - confidence).ravel(), minlength=size)
    return np.abs(gap.reshape(*lead, n_bins + 1)).sum(axis=-1) / n


def expected_calibration_error(
    probs: np.ndarray, targets: np.ndarray, *, n_bins: int = N_BINS
) -> np.ndarray:
    """Top-label ECE of ``(..., n, C)`` probabilities against ``(..., n)`` class indices."""
    probs = np.asarray(probs)
    confidence = probs.max(axis=-1)
    hit = probs.argmax(axis=-1) == np.asarray(targets)
    return _binned_gap(confidence, hit, n_bins)


def classwise_calibration_error(
    probs: np.ndarray, targets: np.ndarray, *, n_bins: int = N_BINS
) -> np.ndarray:
    """Mean over classes of the binned ``|P(y = k | p_k) - p_k|``, for ``(..., n, C)`` probs."""
    probs = np.asarray(probs)
    targets = np.asarray(targets)
    classes = np.arange(probs.shape[-1])
    per_class = _binned_gap(
        np.moveaxis(probs, -1, -2),  # (..., C, n)
        targets[..., None, :] == classes[:, None],
        n_bins,
    )
    return per_class.mean(axis=-1)


def brier_terms(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``(n,)`` per-GIF multi-class Brier terms ``sum_k (p_k - [y = k])^2``."""
    probs = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(probs.shape[-1])[np.asarray(targets)]
    return ((probs - onehot) ** 2).sum(axis=-1)


def nll_terms(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``(n,)`` per-GIF negative log-likelihoods ``-log p_true`` (clipped at :data:`EPS`)."""
    probs = np.asarray(probs, dtype=np.float64)
    true = np.take_along_axis(probs, np.asarray(targets)[:, None], axis=-1)[:, 0]
    return -np.log(np.clip(true, EPS, None))


def reliability_bins(
    probs: np.ndarray, targets: np.ndarray, *, n_bins: int = N_BINS
) -> list[dict[str, float]]:
    """The reliability diagram's bins: ``low``, ``high``, ``count``, ``confidence`` (mean top
    probability) and ``accuracy``, for the bins that hold a GIF."""
    probs = np.asarray(probs)
    confidence = probs.max(axis=1)
    hit = probs.argmax(axis=1) == np.asarray(targets)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            rows.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "count": int(inside.sum()),
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(hit[inside].mean()),
                }
            )
    return rows


def calibration_metrics(
    probs: np.ndarray,
    targets: np.ndarray,
    *,
    n_bins: int = N_BINS,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """ECE, classwise ECE, Brier and NLL of ``(G, C)`` GIF probabilities, each with its
    percentile-bootstrap CI over GIFs, and the reliability bins. JSON-ready."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    n_classes = probs.shape[1]
    columns = tuple(probs[:, k] for k in range(n_classes))

    def stacked(samples) -> tuple[np.ndarray, np.ndarray]:
        # bootstrap hands the resampled columns and targets back, with a leading batch axis
        return np.stack(samples[:n_classes], axis=-1), samples[n_classes].astype(np.int64)

    def ece(*samples, axis=-1):
        return expected_calibration_error(*stacked(samples), n_bins=n_bins)

    def classwise(*samples, axis=-1):
        return classwise_calibration_error(*stacked(samples), n_bins=n_bins)

    options = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}

    def entry(value: float, interval: tuple[float, float]) -> dict[str, float]:
        return {"value": float(value), "ci_low": interval[0], "ci_high": interval[1]}

    brier, nll = brier_terms(probs, targets), nll_terms(probs, targets)
    return {
        "n_bins": n_bins,
        "ece": entry(
            expected_calibration_error(probs, targets, n_bins=n_bins),
            bootstrap_ci(ece, (*columns, targets), **options),
        ),
        "classwise_ece": entry(
            classwise_calibration_error(probs, targets, n_bins=n_bins),
            bootstrap_ci(classwise, (*columns, targets), **options),
        ),
        "brier": entry(brier.mean(), bootstrap_ci(np.mean, (brier,), **options)),
        "nll": entry(nll.mean(), bootstrap_ci(np.mean, (nll,), **options)),
        "confidence": confidence,
        "method": f"percentile bootstrap over GIFs, {n_resamples} resamples, seed {seed}",
        "reliability": reliability_bins(probs, targets, n_bins=n_bins),
    }


# -- clip logits, pooling and the temperature fit ----------------------------------------------


@dataclass(frozen=True)
class ClipLogits:
    """Every clip's raw logits, and the GIF it belongs to: what a temperature acts on.

    ``logits`` is ``(N, C)`` float32, ``gif`` ``(N,)`` the row of each clip's GIF in ``paths``
    (``0..G-1``), ``targets`` ``(N,)`` each clip's (its GIF's) class index.
    """

    labels: tuple[str, ...]
    paths: tuple[str, ...]
    gif: np.ndarray
    logits: np.ndarray
    targets: np.ndarray

    def __post_init__(self) -> None:
        n, c = len(self.gif), len(self.labels)
        if self.logits.shape != (n, c) or self.targets.shape != (n,):
            raise ValueError(
                f"logits must be ({n}, {c}) and targets ({n},), got {self.logits.shape} and "
                f"{self.targets.shape}"
            )

    @property
    def gif_targets(self) -> np.ndarray:
        """``(G,)`` the class of each GIF."""
        out = np.zeros(len(self.paths), dtype=np.int64)
        out[self.gif] = self.targets
        return out

    def pooled(self, temperature: float = 1.0) -> GifPredictions:
        """The GIFs' intensities at ``temperature``: each clip's ``softmax(logits / T)`` in
        float32, as the predictor computes it, averaged per GIF in float64."""
        import torch

        from gifemo.data.clips import pool_clips

        logits = torch.from_numpy(self.logits)
        scaled = logits if temperature == 1.0 else logits / temperature
        _, probs, targets, n_clips, clip_correct = pool_clips(
            torch.from_numpy(self.gif), scaled.softmax(dim=-1), torch.from_numpy(self.targets)
        )
        return GifPredictions(
            labels=self.labels,
            paths=self.paths,
            targets=targets.numpy(),
            probs=probs.numpy(),
            n_clips=n_clips.numpy(),
            clip_correct=clip_correct.numpy(),
        )

    def pooled_nll(self, temperature: float) -> float:
        """The NLL of the GIF-level pooled probabilities at ``temperature`` (float64)."""
        from scipy.special import softmax

        probs = softmax(self.logits.astype(np.float64) / temperature, axis=1)
        sums = np.zeros((len(self.paths), probs.shape[1]))
        np.add.at(sums, self.gif, probs)
        counts = np.bincount(self.gif, minlength=len(self.paths))[:, None]
        return float(nll_terms(sums / counts, self.gif_targets).mean())


@dataclass(frozen=True)
class TemperatureFit:
    temperature: float
    nll_before: float  #: pooled NLL at T = 1
    nll_after: float  #: pooled NLL at the fitted T
    at_bound: bool  #: the optimum is at an end of :data:`TEMPERATURE_BOUNDS`


def fit_temperature(
    clips: ClipLogits, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> TemperatureFit:
    """The ``T`` minimising the NLL of the GIF-level pooled probabilities of ``clips``.

    A bounded scalar search over ``log T`` (the NLL is smooth in it and the scale is symmetric:
    halving and doubling are equally far from 1). A GIF set the model already classifies with
    certainty pushes ``T`` to the lower bound; ``at_bound`` says so.
    """
    from scipy.optimize import minimize_scalar

    if len(clips.paths) == 0:
        raise ValueError("no GIF to fit a temperature on")
    low, high = np.log(bounds[0]), np.log(bounds[1])
    result = minimize_scalar(
        lambda log_t: clips.pooled_nll(float(np.exp(log_t))),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    temperature = float(np.exp(result.x))
    return TemperatureFit(
        temperature=temperature,
        nll_before=clips.pooled_nll(1.0),
        nll_after=clips.pooled_nll(temperature),
        at_bound=bool(min(result.x - low, high - result.x) < 1e-3),
    )
