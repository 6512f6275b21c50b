"""The stages of a scoring job, as plain functions and a class that Ray Data runs remotely.

* :func:`read_shards`: plan shards -> their input rows (read from ``_plan.parquet``);
* :func:`decode_rows`: input rows -> decoded GIFs (``Predictor.prepare``: decode, resize, clips),
  on CPUs, with no model loaded (:class:`DecodeSpec` carries what decoding needs);
* :class:`ScoreActor`: decoded GIFs -> output rows; holds one :class:`Predictor` built by
  :func:`gifemo.inference.load` once per actor, and runs ``Predictor.predict_prepared``.

They take and return Arrow tables, and import nothing of Ray: the local engine does not use them,
but the tests call them in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gifemo.inference.prediction import PredictorInfo
from gifemo.inference.predictor import INPUT_LIMITS, Predictor
from gifemo.inference.scoring.plan import model_file_sha256, read_plan_shard
from gifemo.inference.scoring.rows import (
    decoded_row,
    decoded_schema,
    named_failure,
    plan_source,
    prepared_from_row,
    result_row,
    result_schema,
    rows_table,
)
from gifemo.preprocess import PreprocessConfig


class _NoModel:
    """A backend with the model's metadata and no weights: enough for ``Predictor.prepare``."""

    def __init__(self, spec: DecodeSpec) -> None:
        self.labels = spec.labels
        self.preprocess = PreprocessConfig.from_dict(spec.preprocess)
        self.clip_seed = spec.clip_seed
        self.info = PredictorInfo(**spec.info)

    def __call__(self, clips):
        raise RuntimeError("a decoding worker has no model; clips are scored by the actors")


@dataclass(frozen=True)
class DecodeSpec:
    """What a decoding worker needs of the model (size, clip length, clip seed) and the input
    limits (``max_frames``, ``strict``, the URL guards...): small, sent with every task."""

    labels: tuple[str, ...]
    preprocess: dict[str, Any]
    clip_seed: int
    info: dict[str, Any]
    limits: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, predictor: Predictor) -> DecodeSpec:
        return cls(
            labels=tuple(predictor.labels),
            preprocess=predictor.preprocess.to_dict(),
            clip_seed=int(predictor.backend.clip_seed),
            info=predictor.info.to_dict(),
            limits={name: getattr(predictor, name) for name in INPUT_LIMITS},
        )

    @cached_property
    def predictor(self) -> Predictor:
        return Predictor(_NoModel(self), decode_workers=0, **self.limits)


def read_shards(batch, *, plan_file: str, shard_size: int, n_rows: int):
    """``{shard}`` rows -> the plan rows of those shards, with their ``shard``."""
    import pyarrow as pa

    tables = []
    for shard in batch.column("shard").to_pylist():
        rows = range(shard * shard_size, min((shard + 1) * shard_size, n_rows))
        table = read_plan_shard(plan_file, shard, rows)
        tables.append(table.append_column("shard", pa.array([shard] * len(rows), pa.int64())))
    return pa.concat_tables(tables)


def decode_rows(batch, *, spec: DecodeSpec):
    """Plan rows -> :func:`~gifemo.inference.scoring.rows.decoded_schema` rows; a bad input
    becomes its failure, as in ``predict_many``."""
    predictor = spec.predictor
    decoded = []
    for r in batch.to_pylist():
        source = plan_source(r["source"], r["path"], r["error"])
        # The predictor's own prepare-or-fail: the failures predict_many would report.
        item = named_failure(predictor._prepare_or_fail(source), r["path"])
        decoded.append(decoded_row(item, r["row"], r["shard"]))
    return rows_table(decoded, decoded_schema())


class ScoreActor:
    """Scores decoded GIFs with one model, loaded once (a Ray Data actor's callable class).

    Args:
        model_file: the checkpoint or ``.onnx`` file (the one the driver hashed).
        model_sha256: its SHA-256; a worker that sees another file refuses to score.
        load_options: :func:`gifemo.inference.load`'s options (precision, batch size...).
        clips: add the clip timeline column.
        threads: torch intra-op threads (the CPUs the actor reserved).
        device: ``"cpu"`` or ``"cuda"`` (the GPU that Ray gave the actor).
    """

    def __init__(
        self,
        *,
        model_file: str,
        model_sha256: str,
        load_options: dict[str, Any],
        clips: bool,
        threads: int = 1,
        device: str = "cpu",
    ) -> None:
        import torch

        from gifemo.inference.predictor import load

        torch.set_num_threads(max(1, threads))
        found = model_file_sha256(model_file)
        if found != model_sha256:
            raise RuntimeError(
                f"{model_file}: this worker reads another file than the job hashed (sha256 "
                f"{found[:12]}..., expected {model_sha256[:12]}...); every node must see the same "
                "model file"
            )
        # num_threads is ONNX Runtime's; torch's are set above.
        self.predictor = load(
            model_file, device=device, num_threads=threads, decode_workers=0, **load_options
        )
        self.clips = clips
        self.schema = result_schema(self.predictor.labels, clips=clips)

    def __call__(self, batch):
        records = batch.to_pylist()
        size = self.predictor.preprocess.size
        items = [prepared_from_row(r, size) for r in records]
        results = self.predictor.predict_prepared(items)
        rows = [
            result_row(result, r["row"], clips=self.clips)
            for result, r in zip(results, records, strict=True)
        ]
        return rows_table(rows, self.schema)
