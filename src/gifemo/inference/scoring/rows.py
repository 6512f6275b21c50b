"""What a scoring job's tables hold: the output rows, and the decoded GIFs between its stages.

Output rows are :meth:`Prediction.to_dict` / :meth:`PredictionFailure.to_dict` flattened into
columns, so a row says what ``gifemo predict --format json`` says of the same input:

==================  ======================================================================
``row``             the input's position in the job's input list (0-based; the shard plan's)
``source``          the input as given (path, URL), as ``predict`` names it
``ok``              false for an input that could not be scored
``top_label``       the argmax of the intensities, and ``top_score`` its value
``n_frames``        frames decoded; ``duration_s`` the sum of the effective delays
``n_clips``         clips scored; ``truncated`` a damaged file scored from its first frames
``prob_<label>``    one column per label: the GIF's intensity (mean of its clip probabilities)
``clips``           with ``clips=True``: the timeline, a list of ``{index, frame_indices,
                    start_s, end_s, top_label, intensities: {label: p}}`` as in the JSON
``precision``       the precision the model ran in (``32``, ``bf16-mixed``...)
``error_type``      for a failure: the exception class (``NotAnImageError``, ``FetchError``...)
``error``           and the message, naming the input and the problem
==================  ======================================================================

Between decoding and the model, a decoded GIF travels as one row of :func:`decoded_schema`: its
frames as raw bytes, with their delays and clip frame indices, or its failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from gifemo.inference.inputs import InvalidInput
from gifemo.inference.prediction import PredictionFailure, PredictionResult
from gifemo.inference.predictor import PreparedGif

#: Column-name prefix of the per-label intensities (as in evaluation's ``predictions.csv``).
PROB_PREFIX = "prob_"


class NamedPath(os.PathLike):
    """A local file read through ``path`` and named ``name``.

    Decoding workers run in other folders (and on other machines) than the command, so every
    file is read by its absolute path, while the output keeps the path as the user gave it.
    """

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"NamedPath({self.name!r}, {self.path!r})"


def plan_source(source: str, path: str | None, error: str | None):
    """What the predictor reads for a plan row: a file, a URL, or the row's own failure."""
    if error is not None:
        return InvalidInput(source, error)
    if path is None:
        return source  # a URL
    return NamedPath(source, path)


def named_failure(item, path: str | None):
    """``item`` with a failure's message naming the input as given instead of ``path``, the
    absolute path it was read from: what ``gifemo predict`` says of the same input."""
    if not isinstance(item, PredictionFailure) or path is None or item.source == path:
        return item
    message = item.error.replace(path, item.source)
    doubled = f"{item.source}: {item.source}: "
    if message.startswith(doubled):
        message = message[len(item.source) + 2 :]
    return PredictionFailure(source=item.source, error=message, error_type=item.error_type)


# -- output rows -----------------------------------------------------------------------------


def result_schema(labels: Iterable[str], *, clips: bool):
    """The Arrow schema of every output shard (fixed, so that all shards read as one table)."""
    import pyarrow as pa

    labels = list(labels)
    fields = [
        ("row", pa.int64()),
        ("source", pa.string()),
        ("ok", pa.bool_()),
        ("top_label", pa.string()),
        ("top_score", pa.float64()),
        ("n_frames", pa.int64()),
        ("duration_s", pa.float64()),
        ("n_clips", pa.int64()),
        ("truncated", pa.bool_()),
        *((PROB_PREFIX + label, pa.float64()) for label in labels),
    ]
    if clips:
        intensities = pa.struct([(label, pa.float64()) for label in labels])
        clip = pa.struct(
            [
                ("index", pa.int64()),
                ("frame_indices", pa.list_(pa.int64())),
                ("start_s", pa.float64()),
                ("end_s", pa.float64()),
                ("top_label", pa.string()),
                ("intensities", intensities),
            ]
        )
        fields.append(("clips", pa.list_(clip)))
    fields += [("precision", pa.string()), ("error_type", pa.string()), ("error", pa.string())]
    return pa.schema(fields)


def result_row(result: PredictionResult, row: int, *, clips: bool) -> dict[str, Any]:
    """One output row (see the module docstring) from a prediction or a failure."""
    d = result.to_dict()
    out: dict[str, Any] = {"row": row, "source": d["source"], "ok": d["ok"]}
    if not d["ok"]:
        return {**out, "error_type": d["error_type"], "error": d["error"]}
    out.update(
        top_label=d["top_label"],
        top_score=d["top_score"],
        n_frames=d["n_frames"],
        duration_s=d["duration_s"],
        n_clips=d["n_clips"],
        truncated=d["truncated"],
        precision=d["model"]["precision"],
    )
    out.update({PROB_PREFIX + label: p for label, p in d["intensities"].items()})
    if clips:
        out["clips"] = d["clips"]
    return out


def rows_table(rows: list[dict[str, Any]], schema):
    """``rows`` as a table of ``schema`` (absent fields are nulls)."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=schema)


# -- decoded GIFs between the stages ---------------------------------------------------------


def decoded_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("row", pa.int64()),
            ("shard", pa.int64()),
            ("source", pa.string()),
            # (n_frames, S, S, 3) uint8, C order; large_binary: a long GIF at 224 px is tens of MB.
            ("frames", pa.large_binary()),
            ("n_frames", pa.int64()),
            ("durations_ms", pa.list_(pa.int64())),
            ("clips", pa.list_(pa.list_(pa.int64()))),
            ("truncated", pa.bool_()),
            ("error_type", pa.string()),
            ("error", pa.string()),
        ]
    )


def decoded_row(item: PreparedGif | PredictionFailure, row: int, shard: int) -> dict[str, Any]:
    """A decoded GIF (or its failure) as a row of :func:`decoded_schema`."""
    out: dict[str, Any] = {"row": row, "shard": shard, "source": item.source}
    if isinstance(item, PredictionFailure):
        return {**out, "error_type": item.error_type, "error": item.error}
    return {
        **out,
        "frames": np.ascontiguousarray(item.frames).tobytes(),
        "n_frames": len(item.frames),
        "durations_ms": [int(d) for d in item.durations_ms],
        "clips": [[int(i) for i in clip] for clip in item.clips],
        "truncated": bool(item.truncated),
    }


def prepared_from_row(d: dict[str, Any], size: int) -> PreparedGif | PredictionFailure:
    """The inverse of :func:`decoded_row` (frames of side ``size``)."""
    if d["error_type"] is not None:
        return PredictionFailure(source=d["source"], error=d["error"], error_type=d["error_type"])
    frames = np.frombuffer(d["frames"], dtype=np.uint8).reshape(d["n_frames"], size, size, 3)
    return PreparedGif(
        source=d["source"],
        frames=frames,
        durations_ms=list(d["durations_ms"]),
        clips=[np.asarray(clip, dtype=np.int64) for clip in d["clips"]],
        truncated=bool(d["truncated"]),
    )
