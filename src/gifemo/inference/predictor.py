"""Predict the emotions of GIFs: decode, cut into clips, run the model, pool the clips.

The steps are the evaluation's, so a GIF gets here the numbers it gets in ``gifemo evaluate``:

1. decode (:func:`gifemo.io.iter_frames`, browser compositing) and squash every frame to
   ``S x S`` (:func:`gifemo.preprocess.resize_frame`);
2. cut the frames into clips with the paper's rule (:func:`gifemo.data.clips.make_clips`), the
   padding of short windows seeded by the file's content hash and the training run's seed
   (:func:`gifemo.data.clips.gif_seed`): the same file always gives the same clips;
3. run the model on the clips (any backend of :mod:`gifemo.inference.backends`);
4. average the clips' softmax probabilities (in float64) into the GIF's intensities.

:meth:`Predictor.predict_many` decodes ahead in threads and batches clips from several GIFs
together; a bad input becomes a :class:`PredictionFailure` and the others go on.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from gifemo.data.clips import gif_seed, make_clips
from gifemo.hardware import normalize_precision
from gifemo.inference.backends import Backend, OnnxBackend, TorchBackend
from gifemo.inference.fetch import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_S, fetch_url, is_url
from gifemo.inference.inputs import InvalidInput, NamedBytes, source_label
from gifemo.inference.prediction import (
    ClipPrediction,
    Prediction,
    PredictionFailure,
    PredictionResult,
)
from gifemo.io import DEFAULT_MAX_PIXELS, iter_frames
from gifemo.preprocess import resize_frame

#: What :meth:`Predictor.predict` accepts: a path, an http(s) URL (as ``str``), bytes, a binary
#: file object, or :class:`~gifemo.inference.inputs.NamedBytes`.
PredictSource = str | os.PathLike | bytes | bytearray | BinaryIO | NamedBytes | InvalidInput

#: Errors that mean "this input is bad" (reported, the batch goes on); anything else is a bug.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


#: The Predictor options that decide how an input is read (and so whether it fails).
INPUT_LIMITS: tuple[str, ...] = (
    "max_frames",
    "max_pixels",
    "strict",
    "allow_private",
    "max_download_bytes",
    "download_timeout_s",
)


@dataclass
class PreparedGif:
    """A decoded GIF ready for the model.

    ``frames`` is ``(n_frames, S, S, 3) uint8``; ``clips`` holds each clip's frame indices;
    ``durations_ms`` are the effective (browser) delays used for the timeline.
    """

    source: str
    frames: np.ndarray
    durations_ms: list[int]
    clips: list[np.ndarray]
    truncated: bool = False
    clip_probs: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def clip_batch(self) -> np.ndarray:
        """``(n_clips, T, S, S, 3) uint8``."""
        return self.frames[np.stack(self.clips)]

    @property
    def n_pending(self) -> int:
        return len(self.clips) - sum(len(p) for p in self.clip_probs)


class Predictor:
    """Predicts GIF emotions with one backend; build it with :func:`gifemo.inference.load`.

    Args:
        backend: a :class:`~gifemo.inference.backends.TorchBackend` or ``OnnxBackend``.
        batch_size: clips per forward pass (clips of several GIFs share a batch).
        decode_workers: threads decoding ahead in :meth:`predict_many` (0: decode inline).
        max_frames: refuse GIFs with more frames than this (None: no limit). Memory use is about
            ``n_frames * S * S * 3`` bytes per GIF.
        max_pixels: refuse canvases larger than this (decompression bombs).
        strict: refuse damaged files; with False, predict from the frames before the damage and
            set ``Prediction.truncated``.
        allow_private: let URLs reach loopback/private addresses (:mod:`gifemo.inference.fetch`).
        max_download_bytes, download_timeout_s: limits for URL inputs.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        batch_size: int = 32,
        decode_workers: int = 1,
        max_frames: int | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        strict: bool = True,
        allow_private: bool = False,
        max_download_bytes: int = DEFAULT_MAX_BYTES,
        download_timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if decode_workers < 0:
            raise ValueError(f"decode_workers must be >= 0, got {decode_workers}")
        self.backend = backend
        self.batch_size = batch_size
        self.decode_workers = decode_workers
        self.max_frames = max_frames
        self.max_pixels = max_pixels
        self.strict = strict
        self.allow_private = allow_private
        self.max_download_bytes = max_download_bytes
        self.download_timeout_s = download_timeout_s

    @property
    def labels(self) -> tuple[str, ...]:
        return self.backend.labels

    @property
    def preprocess(self):
        return self.backend.preprocess

    @property
    def info(self):
        return self.backend.info

    def __repr__(self) -> str:
        info = self.info
        return (
            f"Predictor(model={info.name!r}, backend={info.backend!r}, "
            f"precision={info.precision!r}, "
            f"size={info.size}, clip_len={info.clip_len}, labels={list(self.labels)})"
        )

    def with_options(self, **options: Any) -> Predictor:
        """A copy with other decode/fetch limits (``max_frames``, ``max_pixels``, ``strict``...).

        The copy shares the backend (the loaded weights), so it costs nothing; ``self`` is
        unchanged.
        """
        allowed = {"batch_size", "decode_workers", *INPUT_LIMITS}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise TypeError(f"unknown predictor option(s) {unknown}; known: {sorted(allowed)}")
        current = {name: getattr(self, name) for name in allowed}
        return Predictor(self.backend, **{**current, **options})

    # -- one GIF ---------------------------------------------------------------------------

    def predict(self, source: PredictSource) -> Prediction:
        """The emotions of one GIF; raises ``GifError``, ``FetchError`` or ``OSError`` on a bad
        input."""
        prepared = self.prepare(source)
        probs = self.predict_clips(prepared.clip_batch)
        return self._finish(prepared, probs)

    def predict_clips(self, clips: np.ndarray) -> np.ndarray:
        """``(N, T, S, S, 3) uint8 -> (N, C) float32`` probabilities, ``batch_size`` clips at a
        time."""
        outputs = [
            self.backend(clips[i : i + self.batch_size])
            for i in range(0, len(clips), self.batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.labels)), np.float32)

    def prepare(self, source: PredictSource) -> PreparedGif:
        """Read, decode, resize and cut ``source`` into clips (no model involved)."""
        name, data = self.read_source(source)
        size = self.preprocess.size
        frames, durations = [], []
        # Bytes travel as a named file object so that decode errors name the input, not "<bytes>".
        readable = data if isinstance(data, Path) else _named_bytes(data, name)
        with iter_frames(
            readable, max_frames=self.max_frames, max_pixels=self.max_pixels, strict=self.strict
        ) as reader:
            for frame in reader:
                frames.append(resize_frame(frame.image, size))
                durations.append(frame.effective_duration_ms)
            truncated = reader.truncated
        if not frames:
            from gifemo.io import EmptyGifError

            raise EmptyGifError(name, "no complete frame to predict from")
        seed = gif_seed(_sha256(data), self.backend.clip_seed)
        clips = make_clips(len(frames), self.preprocess.clip_len, seed=seed)
        return PreparedGif(name, np.stack(frames), durations, clips, truncated)

    def read_source(self, source: PredictSource) -> tuple[str, Path | bytes]:
        """``(name, path or bytes)`` of ``source``; URLs are downloaded (under the fetch guards)."""
        if isinstance(source, InvalidInput):
            raise ValueError(f"{source.name}: {source.error}")
        if isinstance(source, NamedBytes):
            return source.name, source.data
        if isinstance(source, str) and is_url(source):
            fetched = fetch_url(
                source,
                allow_private=self.allow_private,
                max_bytes=self.max_download_bytes,
                timeout_s=self.download_timeout_s,
            )
            return source, fetched.content
        if isinstance(source, (str, os.PathLike)):
            return str(source), Path(source)
        if isinstance(source, (bytes, bytearray, memoryview)):
            return "<bytes>", bytes(source)
        if hasattr(source, "read"):
            data = source.read()
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError(f"{source_label(source)}: expected a binary file object")
            return source_label(source), bytes(data)
        raise TypeError(
            f"cannot predict from a {type(source).__name__}; give a path, URL, bytes or file object"
        )

    def _finish(self, prepared: PreparedGif, probs: np.ndarray) -> Prediction:
        labels = self.labels
        starts = np.concatenate([[0], np.cumsum(prepared.durations_ms)]) / 1000.0
        clips = tuple(
            ClipPrediction(
                index=i,
                frame_indices=tuple(int(f) for f in indices),
                start_s=float(starts[indices[0]]),
                end_s=float(starts[indices[-1] + 1]),
                intensities=dict(zip(labels, (float(p) for p in row), strict=True)),
            )
            for i, (indices, row) in enumerate(zip(prepared.clips, probs, strict=True))
        )
        # The GIF's intensities: the mean of its clip probabilities, as evaluation pools them.
        mean = probs.astype(np.float64).mean(axis=0)
        return Prediction(
            source=prepared.source,
            labels=labels,
            intensities=dict(zip(labels, (float(p) for p in mean), strict=True)),
            n_frames=len(prepared.frames),
            duration_s=float(starts[-1]),
            clips=clips,
            model=self.info,
            truncated=prepared.truncated,
        )

    # -- many GIFs -------------------------------------------------------------------------

    def predict_many(
        self, sources: Iterable[PredictSource], *, batch_size: int | None = None
    ) -> Iterator[PredictionResult]:
        """Yield one :class:`Prediction` or :class:`PredictionFailure` per source, in input order.

        GIFs are decoded ahead by ``decode_workers`` threads (a bounded look-ahead, so memory
        stays flat over thousands of files) and their clips are packed into batches of
        ``batch_size`` (default: the predictor's) across GIF boundaries.
        """
        yield from self.predict_prepared(self._prepare_all(sources), batch_size=batch_size)

    def predict_prepared(
        self,
        items: Iterable[PreparedGif | PredictionFailure],
        *,
        batch_size: int | None = None,
    ) -> Iterator[PredictionResult]:
        """:meth:`predict_many` after decoding: one result per item, in order.

        ``items`` are what :meth:`prepare` returned (or the failure of a source it could not
        prepare, passed through); clips of several GIFs share a batch of ``batch_size``. Lets
        decoding happen elsewhere (another process, a Ray task) and the model run here.
        """
        batch_size = batch_size or self.batch_size
        queue: deque[PreparedGif | PredictionFailure] = deque()  # in input order, not yet yielded
        waiting: deque[tuple[PreparedGif, int]] = deque()  # (gif, first clip not yet batched)
        n_waiting = 0

        def run_batch(limit: int) -> None:
            nonlocal n_waiting
            parts, taken = [], 0
            owners: list[tuple[PreparedGif, int]] = []
            while waiting and taken < limit:
                gif, start = waiting[0]
                count = min(len(gif.clips) - start, limit - taken)
                parts.append(gif.frames[np.stack(gif.clips[start : start + count])])
                owners.append((gif, count))
                taken += count
                if start + count == len(gif.clips):
                    waiting.popleft()
                else:
                    waiting[0] = (gif, start + count)
            n_waiting -= taken
            probs = self.backend(np.concatenate(parts))
            offset = 0
            for gif, count in owners:
                gif.clip_probs.append(probs[offset : offset + count])
                offset += count

        def ready() -> Iterator[PredictionResult]:
            while queue and (isinstance(queue[0], PredictionFailure) or queue[0].n_pending == 0):
                item = queue.popleft()
                if isinstance(item, PredictionFailure):
                    yield item
                else:
                    result = self._finish(item, np.concatenate(item.clip_probs))
                    item.frames = item.clip_probs = None  # free memory early
                    yield result

        for item in items:
            queue.append(item)
            if isinstance(item, PreparedGif):
                waiting.append((item, 0))
                n_waiting += len(item.clips)
                while n_waiting >= batch_size:
                    run_batch(batch_size)
            yield from ready()
        while n_waiting:
            run_batch(batch_size)
        yield from ready()

    def _prepare_or_fail(self, source: PredictSource) -> PreparedGif | PredictionFailure:
        try:
            return self.prepare(source)
        except INPUT_ERRORS as error:
            return PredictionFailure.from_exception(source_label(source), error)

    def _prepare_all(
        self, sources: Iterable[PredictSource]
    ) -> Iterator[PreparedGif | PredictionFailure]:
        if self.decode_workers == 0:
            yield from map(self._prepare_or_fail, sources)
            return
        lookahead = 2 * self.decode_workers
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="gifemo-decode") as pool:
            pending: deque[Future] = deque()
            for source in sources:
                pending.append(pool.submit(self._prepare_or_fail, source))
                if len(pending) > lookahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def _named_bytes(data: bytes, name: str) -> io.BytesIO:
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


def _sha256(data: Path | bytes) -> str:
    if isinstance(data, Path):
        from gifemo.data.sources import file_sha256

        return file_sha256(data)
    return hashlib.sha256(data).hexdigest()


def load(
    model: Any,
    *,
    device: str = "cpu",
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool | None = None,
    backend: str | None = None,
    num_threads: int | None = None,
    which: str = "auto",
    calibrated: bool = True,
    **predictor_options: Any,
) -> Predictor:
    """Load a model for prediction.

    Args:
        model: a run directory (its checkpoint chosen as in ``find_checkpoint``), a ``.ckpt``
            file, an exported ``.onnx`` file, or a loaded
            :class:`~gifemo.training.checkpoint.TrainedModel`.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        precision: ``"auto"`` (what is fast on this machine: bfloat16 autocast only on a GPU or CPU
            with native bfloat16, see :func:`gifemo.hardware.resolve_compute`), ``"32"``,
            ``"bf16-mixed"`` (also ``"bf16"``) or ``"16-mixed"`` (CUDA). ONNX models run the
            float32 graph they hold (``"auto"`` or ``"32"``).
        channels_last: torch backend: channels-last weights (``None``: where faster).
        compile: torch backend: ``torch.compile`` the model (``None``: auto, off on CPU).
        backend: ``"torch"`` or ``"onnxruntime"``; default: ``"onnxruntime"`` for ``.onnx`` files,
            ``"torch"`` otherwise.
        num_threads: onnxruntime's intra-op threads (torch: use ``torch.set_num_threads``).
        which: for a run directory: ``"auto"``, ``"best"`` or ``"last"`` checkpoint.
        calibrated: apply the model's temperature (a run's ``calibration.json``, the one inside
            an exported graph, a ``TrainedModel``'s ``temperature``); False: raw probabilities.
        **predictor_options: :class:`Predictor` options (``batch_size``, ``decode_workers``,
            ``max_frames``, ``strict``, ``allow_private``...).

    >>> import gifemo
    >>> predictor = gifemo.load("runs/paper")           # doctest: +SKIP
    >>> predictor.predict("cat.gif").top_label          # doctest: +SKIP
    'happiness'
    """
    is_onnx = isinstance(model, (str, os.PathLike)) and Path(model).suffix.lower() == ".onnx"
    backend = backend or ("onnxruntime" if is_onnx else "torch")
    if backend == "onnxruntime":
        if not is_onnx:
            raise ValueError(f"the onnxruntime backend needs an .onnx file, got {model!r}")
        if normalize_precision(precision) not in ("auto", "32"):
            raise ValueError(
                "the onnxruntime backend runs the exported float32 graph; use precision='32' or "
                "'auto'"
            )
        if channels_last or compile:
            raise ValueError("channels_last and compile apply to the torch backend only")
        runner: Backend = OnnxBackend(
            model, device=device, num_threads=num_threads, calibrated=calibrated
        )
    elif backend == "torch":
        if is_onnx:
            raise ValueError(f"{model}: an .onnx file runs with backend='onnxruntime'")
        if isinstance(model, (str, os.PathLike)):
            from gifemo.training.checkpoint import load_trained_model

            model = load_trained_model(model, which=which, calibrated=calibrated)
        elif not calibrated:
            import dataclasses

            model = dataclasses.replace(model, temperature=1.0)
        runner = TorchBackend(
            model, device=device, precision=precision, channels_last=channels_last, compile=compile
        )
    else:
        raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
    return Predictor(runner, **predictor_options)
