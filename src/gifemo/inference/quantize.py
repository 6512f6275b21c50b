"""Static INT8 quantisation of an exported model with ONNX Runtime (QDQ, per-channel weights).

``export_int8(run, "model.onnx")`` exports the float32 graph (:func:`~gifemo.inference.export.
export_onnx`), calibrates activation ranges on uint8 clips of the run's own training GIFs (or
of ``calibration_data=DATA``), quantises, then runs the float32 and INT8 files side by side on the
run's test GIFs and reports how often they agree on the top emotion and the largest probability
difference. The result is an ordinary gifemo ``.onnx`` file: ``gifemo.load`` and ``gifemo
predict`` run it unchanged; its metadata says that it is INT8 and how it was calibrated.

What is quantised (``scope="backbone"``, the default): the convolutions and matrix products of
the per-frame backbone (ResNet18's 20 convolutions in the paper's model), weights int8
per output channel (symmetric), activations uint8 per tensor (MinMax over the calibration
clips). What stays float32, and why:

* the normalisation of the uint8 frames and the softmax (cheap; exact in float32);
* the temporal part, ConvGRU (or LSTM): its sigmoid/tanh gates and the recurrence
  ``h = (1 - z) h' + z h`` would add a rounding error at every step; its convolutions run on
  7x7 (224 px) or 2x2 (64 px) maps, where quantise/dequantise around each convolution cost
  more than int8 saves (measured: the whole graph quantised ran at 41 clips/s against 64 for
  the backbone alone at 64 px, with the same agreement; docs/predict.md);
* the classifier head (FC-tanh-FC, a few thousand multiply-adds).

``scope="all"`` quantises every convolution and matrix product instead.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gifemo.inference.backends import META_PREFIX

#: Op types that get int8 kernels (QLinearConv / QLinearMatMul after ORT's QDQ fusion).
QUANTIZED_OP_TYPES: tuple[str, ...] = ("Conv", "Gemm", "MatMul")
#: Where the exporter records each node's module path (torch's dynamo exporter).
NAME_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
SCOPES: tuple[str, ...] = ("backbone", "all")
#: Metadata key of the quantisation record (JSON), and the precision gifemo reports.
QUANTIZATION_KEY = META_PREFIX + "quantization"
INT8 = "int8"


@dataclass(frozen=True)
class Agreement:
    """INT8 against float32 on the same GIFs (``n_gifs`` of them, ``n_clips`` clips)."""

    n_gifs: int
    n_clips: int
    top1_agreement: float  #: share of GIFs whose top emotion is the same
    clip_top1_agreement: float  #: the same per clip
    max_abs_diff: float  #: largest |p_int8 - p_fp32| over the GIFs' and clips' probabilities
    source: str  #: where the GIFs came from ("test split of RUN", a folder...)
    failures: tuple[str, ...] = ()  #: GIFs that could not be predicted (name: error)


@dataclass(frozen=True)
class Int8ExportResult:
    path: Path  #: the INT8 ``.onnx`` file
    fp32_max_abs_diff: float | None  #: torch vs the float32 graph (export check)
    quantized_nodes: tuple[str, ...]  #: names of the nodes with int8 kernels
    float_ops: dict[str, int]  #: op type -> count of the compute ops left in float32
    calibration: dict[str, Any]  #: source, GIFs, clips, method
    agreement: Agreement | None  #: None when not checked
    metadata: dict[str, str]  #: the ``metadata_props`` of the INT8 file


def export_int8(
    model: Any,
    dest: str | os.PathLike,
    *,
    calibration_data: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    calibration_clips: int = 64,
    calibrated: bool = True,
    check_on: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    check_gifs: int | None = 200,
    scope: str = "backbone",
    opset: int | None = None,
    which: str = "auto",
    seed: int = 0,
) -> Int8ExportResult:
    """Export ``model`` (run dir, ``.ckpt``, ``TrainedModel``, or a float32 ``.onnx`` export of
    one) as a static INT8 ONNX file.

    Args:
        calibration_data: GIFs whose clips calibrate the activation ranges: a folder (every image
            below it), a CSV manifest or dataset folder, or a list of files. Default: the run's
            training split (needs the run dir's ``split.csv`` and its data).
        calibration_clips: clips used for calibration, at most one per GIF first, spread over
            the GIFs (seeded), then more per GIF if there are fewer GIFs than clips.
        check_on: GIFs on which INT8 and float32 are compared; default: the run's test split.
        check_gifs: at most this many of them (evenly spaced; None: all); 0 skips the check.
        scope: ``"backbone"`` (default, see the module docstring) or ``"all"``.
        calibrated: keep the run's temperature (``gifemo calibrate``) in the graph, as the
            float32 export does; False exports the raw softmax. (Not to be confused with the
            activation-range calibration above.)

    Raises ``ValueError`` (bad arguments, no calibration data) and
    :class:`~gifemo.inference.export.ExportError` (export or quantisation failed). The file is
    written in a temporary folder beside ``dest`` and moved into place at the end.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from gifemo.inference.export import ExportError, export_onnx
    from gifemo.inference.predictor import load

    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if calibration_clips < 1:
        raise ValueError(f"calibration_clips must be >= 1, got {calibration_clips}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        if isinstance(model, (str, os.PathLike)) and Path(model).suffix.lower() == ".onnx":
            # An existing float32 export: quantise it as it is.
            fp32_path, fp32_diff = Path(model), None
            fp32 = load(fp32_path, decode_workers=0)
            if fp32.info.precision != "32":
                raise ValueError(
                    f"{fp32_path}: already {fp32.info.precision}, not a float32 export"
                )
            metadata = {
                p.key: p.value
                for p in onnx.load(fp32_path, load_external_data=False).metadata_props
            }
            source_checkpoint = metadata.get(META_PREFIX + "source_checkpoint", "")
            model_name = fp32.info.name
        else:
            if isinstance(model, (str, os.PathLike)):
                from gifemo.training.checkpoint import load_trained_model

                model = load_trained_model(model, which=which, calibrated=calibrated)
            fp32_path = staging / "fp32.onnx"
            exported = export_onnx(model, fp32_path, opset=opset)
            fp32_diff, metadata = exported.max_abs_diff, dict(exported.metadata)
            fp32 = load(fp32_path, decode_workers=0)
            source_checkpoint, model_name = str(model.checkpoint_path), model.model_name

        cal_files, cal_source = _gif_files(source_checkpoint, calibration_data, split="train")
        clips, n_gifs, failures = calibration_batch(
            fp32, cal_files, limit=calibration_clips, seed=seed
        )
        if len(clips) == 0:
            detail = f"; e.g. {failures[0]}" if failures else ""
            raise ValueError(f"no calibration clip could be made from {cal_source}{detail}")

        # Shape inference only: ORT's graph optimisations would rename the nodes and drop the
        # module paths that say which nodes belong to the backbone.
        prepared = staging / "prepared.onnx"
        quant_pre_process(
            fp32_path, prepared, skip_optimization=True, skip_symbolic_shape=True, verbose=0
        )
        graph = onnx.load(prepared, load_external_data=False)
        nodes = select_nodes(graph, scope)
        if not nodes:
            raise ExportError(f"{model_name}: no {'/'.join(QUANTIZED_OP_TYPES)} node found")
        int8_path = staging / dest.name
        try:
            quantize_static(
                prepared,
                int8_path,
                ClipReader(clips, batch_size=8),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=list(QUANTIZED_OP_TYPES),
                nodes_to_quantize=nodes,
            )
        except Exception as error:  # onnxruntime raises its own types
            raise ExportError(
                f"INT8 quantisation failed: {type(error).__name__}: {error}"
            ) from error

        calibration_record = {
            "source": cal_source,
            "gifs": n_gifs,
            "clips": int(len(clips)),
            "method": "MinMax",
            "failed_gifs": len(failures),
        }
        quantized = onnx.load(int8_path)
        float_ops = _float_compute_ops(quantized, nodes)
        record = {
            "format": "QDQ",
            "weights": "int8, per output channel, symmetric",
            "activations": "uint8, per tensor, MinMax calibration",
            "scope": scope,
            "quantized_nodes": len(nodes),
            "float32": "normalisation, softmax"
            + (", the temporal part and the head" if scope == "backbone" else ""),
            "calibration": calibration_record,
            "onnxruntime": onnxruntime.__version__,
        }
        metadata = dict(metadata)
        metadata[META_PREFIX + "precision"] = INT8
        metadata[QUANTIZATION_KEY] = json.dumps(record)
        _set_metadata(quantized, metadata)
        onnx.save(quantized, int8_path)

        agreement = None
        if check_gifs != 0:
            files, source = _gif_files(source_checkpoint, check_on, split="test")
            if check_gifs is not None and len(files) > check_gifs:
                files = [files[i] for i in np.linspace(0, len(files) - 1, check_gifs).astype(int)]
            agreement = compare_predictors(fp32, load(int8_path, decode_workers=0), files, source)
            record["check"] = asdict(agreement) | {"failures": len(agreement.failures)}
            metadata[QUANTIZATION_KEY] = json.dumps(record)
            _set_metadata(quantized, metadata)
            onnx.save(quantized, int8_path)
        if dest.with_name(dest.name + ".data").exists():
            dest.with_name(dest.name + ".data").unlink()  # a stale float32 weights file
        os.replace(int8_path, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Int8ExportResult(
        path=dest,
        fp32_max_abs_diff=fp32_diff,
        quantized_nodes=tuple(nodes),
        float_ops=float_ops,
        calibration=calibration_record,
        agreement=agreement,
        metadata=metadata,
    )


# -- calibration data -------------------------------------------------------------------------


class ClipReader:
    """ONNX Runtime's ``CalibrationDataReader`` over ``(N, T, S, S, 3) uint8`` clips."""

    def __init__(self, clips: np.ndarray, *, batch_size: int = 8) -> None:
        self.clips = clips
        self.batch_size = batch_size
        self._batches: Iterator[np.ndarray] = iter(())
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        from gifemo.inference.frames_model import INPUT_NAME

        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}

    def rewind(self) -> None:
        size = self.batch_size
        self._batches = (self.clips[i : i + size] for i in range(0, len(self.clips), size))

    def __len__(self) -> int:
        return -(-len(self.clips) // self.batch_size)


def calibration_batch(
    predictor, files: Sequence[Path], *, limit: int, seed: int = 0
) -> tuple[np.ndarray, int, list[str]]:
    """``(clips (N, T, S, S, 3) uint8, GIFs used, failures)``: up to ``limit`` clips of ``files``.

    Clips are made as prediction makes them (``predictor.prepare``: decode, resize, the clip
    rule). The GIFs are visited in a seeded random order, one clip each (drawn at random) until
    ``limit`` clips are reached; with fewer GIFs than ``limit`` every GIF gives more.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    n_gifs = min(limit, len(files))
    # Clips kept per GIF: one when there are enough GIFs; else enough to reach the limit.
    cap = -(-limit // max(1, n_gifs))
    pools: list[np.ndarray] = []
    failures: list[str] = []
    for index in order:
        if len(pools) >= n_gifs:
            break
        try:
            batch = predictor.prepare(files[index]).clip_batch
        except (ValueError, OSError) as error:
            failures.append(f"{files[index]}: {error}")
            continue
        pools.append(batch[rng.permutation(len(batch))[:cap]])
    # Round robin over the GIFs: each gives its first clip before any gives a second.
    chosen = [pool[i] for i in range(cap) for pool in pools if i < len(pool)][:limit]
    if not chosen:
        return np.zeros((0,), np.uint8), 0, failures
    return np.stack(chosen), len(pools), failures


def _gif_files(
    source_checkpoint: str,
    given: str | os.PathLike | Sequence[str | os.PathLike] | None,
    *,
    split: str,
) -> tuple[list[Path], str]:
    """The GIF files of ``given`` (folder, dataset, manifest or list), or of the run's ``split``."""
    from gifemo.data.sources import load_dataset
    from gifemo.inference.inputs import find_media_files

    if given is not None and not isinstance(given, (str, os.PathLike)):
        files = [Path(f) for f in given]
        return files, f"{len(files)} given file(s)"
    if given is not None:
        path = Path(given)
        if path.suffix.lower() == ".csv":
            return [r.path for r in load_dataset(path).records], str(path)
        if path.is_dir():
            return find_media_files(path), str(path)
        raise ValueError(f"{path}: not a folder of GIFs nor a CSV manifest")
    return run_split_files(source_checkpoint, split)


def run_split_files(checkpoint: str | os.PathLike, split: str) -> tuple[list[Path], str]:
    """The GIFs of ``split`` (``train``, ``val``, ``test``) of the run that wrote ``checkpoint``."""
    from gifemo.data.sources import load_dataset
    from gifemo.data.split import load_split
    from gifemo.training.run_dir import RunDir, load_run_config

    ckpt = Path(checkpoint)
    run = RunDir(ckpt.parent.parent)
    if not (run.split_file.is_file() and run.config_file.is_file()):
        raise ValueError(
            f"{ckpt}: not inside a run directory with its split.csv and config.yaml, so its "
            f"{split} GIFs are unknown; give GIFs explicitly (--int8-data DATA)"
        )
    data = load_run_config(run.path).data
    dataset = load_dataset(data)
    sides, _ = load_split(run.split_file).indices(dataset)
    files = [dataset.records[i].path for i in sides.get(split, [])]
    if not files:
        raise ValueError(f"{run.path}: its {split} split has no GIF in {data}")
    return files, f"{split} split of {run.path} ({data})"


# -- the graph --------------------------------------------------------------------------------


def node_scopes(node) -> list[str]:
    """The module path the exporter recorded for ``node`` (``["", "model", ...]``)."""
    for prop in node.metadata_props:
        if prop.key == NAME_SCOPES_KEY:
            try:
                return list(ast.literal_eval(prop.value))
            except (ValueError, SyntaxError):
                return []
    return []


def select_nodes(graph, scope: str) -> list[str]:
    """Names of the nodes to quantise in ``graph`` (an ``onnx.ModelProto``) for ``scope``."""
    nodes = [n for n in graph.graph.node if n.op_type in QUANTIZED_OP_TYPES]
    if scope == "backbone":
        nodes = [n for n in nodes if "model.backbone" in node_scopes(n)]
    return [n.name for n in nodes]


def _float_compute_ops(quantized, nodes: Sequence[str]) -> dict[str, int]:
    names = set(nodes)
    counts: dict[str, int] = {}
    for node in quantized.graph.node:
        if node.op_type in QUANTIZED_OP_TYPES and node.name not in names:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def _set_metadata(model, metadata: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


# -- the check --------------------------------------------------------------------------------


def compare_predictors(reference, other, files: Sequence[Path], source: str) -> Agreement:
    """Predict ``files`` with both predictors and compare (top-1 agreement, max |dp|)."""
    gif_same = clip_same = n_clips = n_gifs = 0
    max_diff = 0.0
    failures: list[str] = []
    for a, b in zip(reference.predict_many(files), other.predict_many(files), strict=True):
        if not (a.ok and b.ok):
            failures.append((a if not a.ok else b).error)
            continue
        n_gifs += 1
        gif_same += a.top_label == b.top_label
        pa = np.array([list(c.intensities.values()) for c in a.clips])
        pb = np.array([list(c.intensities.values()) for c in b.clips])
        n_clips += len(pa)
        clip_same += int((pa.argmax(1) == pb.argmax(1)).sum())
        gif_diff = max(abs(a.intensities[k] - b.intensities[k]) for k in a.labels)
        max_diff = max(max_diff, gif_diff, float(np.abs(pa - pb).max()))
    return Agreement(
        n_gifs=n_gifs,
        n_clips=n_clips,
        top1_agreement=gif_same / n_gifs if n_gifs else float("nan"),
        clip_top1_agreement=clip_same / n_clips if n_clips else float("nan"),
        max_abs_diff=max_diff,
        source=source,
        failures=tuple(failures),
    )
