"""What a prediction returns: one :class:`Prediction` per GIF, or a :class:`PredictionFailure`.

Both serialise (``to_dict``/``to_json``) to the JSON documented in ``docs/predict.md``; the CLI
prints it and the HTTP service returns it, so the three never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: Version of the JSON layout below; bumped on any incompatible change.
SCHEMA_VERSION = 1


class _JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_dict` as JSON text (one line unless ``indent``)."""
        return json.dumps(self.to_dict(), indent=indent)


@dataclass(frozen=True)
class PredictorInfo:
    """Which model made a prediction, and how it ran."""

    name: str  #: registered model name (``resnet_convgru``, ...)
    backend: str  #: ``"torch"`` or ``"onnxruntime"``
    path: str  #: the run folder, checkpoint or ``.onnx`` file that was loaded
    precision: str = "32"  #: ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"`` (torch autocast)
    size: int = 224  #: input frame size S
    clip_len: int = 4  #: frames per clip T
    #: the logits are divided by it before the softmax (the run's calibration; 1: none)
    temperature: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "path": self.path,
            "precision": self.precision,
            "size": self.size,
            "clip_len": self.clip_len,
            "temperature": self.temperature,
        }


@dataclass(frozen=True)
class ClipPrediction:
    """The model's output for one clip: a point of the emotion timeline.

    ``frame_indices`` may repeat a frame (short GIFs and the last clip are padded with random
    frames of their own, see :func:`gifemo.data.clips.make_clips`). ``start_s``/``end_s`` span
    the clip's first frame's start to its last frame's end, from the effective frame delays.
    """

    index: int
    frame_indices: tuple[int, ...]
    start_s: float
    end_s: float
    intensities: dict[str, float]

    @property
    def top_label(self) -> str:
        return max(self.intensities, key=self.intensities.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "frame_indices": list(self.frame_indices),
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "top_label": self.top_label,
            "intensities": dict(self.intensities),
        }


@dataclass(frozen=True)
class Prediction(_JsonMixin):
    """The emotions of one GIF.

    ``intensities`` maps each label (in the model's label order) to a probability; they sum to 1.
    They are the mean of the clip probabilities, exactly as evaluation pools a GIF's clips.
    """

    source: str
    labels: tuple[str, ...]
    intensities: dict[str, float]
    n_frames: int
    duration_s: float
    clips: tuple[ClipPrediction, ...]
    model: PredictorInfo
    truncated: bool = False  #: the file was damaged and only its first frames were used
    ok: bool = field(default=True, init=False)

    @property
    def top_label(self) -> str:
        return max(self.labels, key=self.intensities.__getitem__)

    @property
    def top_score(self) -> float:
        return self.intensities[self.top_label]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": True,
            "source": self.source,
            "top_label": self.top_label,
            "top_score": self.top_score,
            "intensities": dict(self.intensities),
            "labels": list(self.labels),
            "n_frames": self.n_frames,
            "duration_s": round(self.duration_s, 6),
            "truncated": self.truncated,
            "n_clips": len(self.clips),
            "clips": [clip.to_dict() for clip in self.clips],
            "model": self.model.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prediction:
        """Rebuild a prediction from :meth:`to_dict`'s output (e.g. a service's JSON reply)."""
        return cls(
            source=d["source"],
            labels=tuple(d["labels"]),
            intensities={k: float(v) for k, v in d["intensities"].items()},
            n_frames=int(d["n_frames"]),
            duration_s=float(d["duration_s"]),
            clips=tuple(
                ClipPrediction(
                    index=int(c["index"]),
                    frame_indices=tuple(int(i) for i in c["frame_indices"]),
                    start_s=float(c["start_s"]),
                    end_s=float(c["end_s"]),
                    intensities={k: float(v) for k, v in c["intensities"].items()},
                )
                for c in d["clips"]
            ),
            model=PredictorInfo(**d["model"]),
            truncated=bool(d.get("truncated", False)),
        )


@dataclass(frozen=True)
class PredictionFailure(_JsonMixin):
    """An input that could not be predicted: which one, and why."""

    source: str
    error: str  #: the message, naming the file and the problem
    error_type: str  #: the exception class name (``NotAnImageError``, ``FetchError``, ...)
    ok: bool = field(default=False, init=False)

    @classmethod
    def from_exception(cls, source: str, error: BaseException) -> PredictionFailure:
        message = str(error) or type(error).__name__
        if source not in message:
            message = f"{source}: {message}"
        return cls(source=source, error=message, error_type=type(error).__name__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": False,
            "source": self.source,
            "error": self.error,
            "error_type": self.error_type,
        }


PredictionResult = Prediction | PredictionFailure
