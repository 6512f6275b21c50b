"""A content-addressed cache of decoded, resized frames, memory-mapped at training time.

Each GIF is decoded once (composited as a browser shows it), squashed to ``S x S`` with
:func:`gifemo.preprocess.resize_frame` and stored as one ``.npy`` array, so training reads a few
``S x S x 3`` bytes per frame instead of decoding GIFs every epoch. Layout under the cache root::

    frames-v1-S<S>/<h[:2]>/<h>.npy     (n_frames, S, S, 3) uint8, opened with mmap_mode="r"
    frames-v1-S<S>/<h[:2]>/<h>.json    {"n_frames", "durations_ms", "width", "height", ...}
                                       or {"error": "..."} for a file that cannot be decoded
    frames-v1-S<S>/index/<d>.json      one dataset: GIF -> label, frame count, delays, entry

``<h>`` is the SHA-256 of the file's bytes, so an entry is shared by every dataset holding that
content and a changed file is simply a new entry; ``<d>`` fingerprints the dataset. The ``.json``
is written (atomically) after the ``.npy``: an entry with its ``.json`` is complete. Files that
fail to decode with a :class:`~gifemo.io.GifError` are remembered as such (the content will not
decode better next time) and skipped; other failures (an I/O error) are reported and retried by
the next build.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from gifemo.atomic import atomic_write, atomic_write_text
from gifemo.data.sources import GifDataset
from gifemo.paths import default_cache_dir

#: Bump when the decoder or the stored layout changes in a way that invalidates entries.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class CachedGif:
    """One dataset record as the cache knows it.

    ``error`` is set (and ``n_frames == 0``) when the file could not be decoded; ``damage`` when it
    is truncated or corrupt part-way and only the frames before the damage were kept.
    """

    rel_path: str
    label: str
    label_index: int
    sha256: str
    n_frames: int
    durations_ms: tuple[int, ...]
    error: str | None = None
    damage: str | None = None


class FrameCache:
    """Cached frames of one dataset, indexed like ``dataset.records`` (``gif_index``).

    Holds no open file: :meth:`frames` maps the entry on each call, so the object pickles into
    DataLoader workers as plain data and never runs out of file descriptors.
    """

    def __init__(
        self,
        directory: Path,
        size: int,
        labels: Sequence[str],
        gifs: Sequence[CachedGif],
        *,
        decoded: int = 0,
        build_seconds: float = 0.0,
    ) -> None:
        self.directory = Path(directory)
        self.size = int(size)
        self.labels = tuple(labels)
        self.gifs = tuple(gifs)
        #: GIFs decoded by the build that produced this object (0 when everything was cached).
        self.decoded = decoded
        self.build_seconds = build_seconds

    def __len__(self) -> int:
        return len(self.gifs)

    def entry_path(self, gif_index: int) -> Path:
        return _entry_stem(self.directory, self.gifs[gif_index].sha256).with_suffix(".npy")

    def frames(self, gif_index: int) -> np.ndarray:
        """The frames of GIF ``gif_index``: a read-only ``(n, S, S, 3)`` uint8 memmap."""
        gif = self.gifs[gif_index]
        if gif.error is not None:
            raise ValueError(f"{gif.rel_path}: not in the cache, it failed to decode: {gif.error}")
        return np.load(self.entry_path(gif_index), mmap_mode="r")

    @property
    def valid_indices(self) -> list[int]:
        """Indices of the GIFs that decoded (the ones a clip dataset can use)."""
        return [i for i, g in enumerate(self.gifs) if g.error is None]

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(rel_path, error)`` for every GIF that could not be decoded."""
        return [(g.rel_path, g.error) for g in self.gifs if g.error is not None]

    @property
    def index_path(self) -> Path:
        key = json.dumps([self.labels, [(g.rel_path, g.label, g.sha256) for g in self.gifs]])
        return self.directory / "index" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"

    def save_index(self) -> Path:
        """Write this dataset's index atomically (see the module docstring); return its path."""
        payload = {
            "format": CACHE_FORMAT,
            "size": self.size,
            "labels": list(self.labels),
            "gifs": [asdict(g) for g in self.gifs],
        }
        atomic_write_text(self.index_path, json.dumps(payload, indent=1))
        return self.index_path

    @classmethod
    def load(cls, index_path: str | Path) -> FrameCache:
        """Reopen a cache from an index written by :meth:`save_index` (no dataset needed)."""
        index_path = Path(index_path)
        payload = json.loads(index_path.read_text())
        if payload.get("format") != CACHE_FORMAT:
            raise ValueError(
                f"{index_path}: cache format {payload.get('format')}, expected {CACHE_FORMAT}"
            )
        gifs = [
            CachedGif(**{**g, "durations_ms": tuple(g["durations_ms"])}) for g in payload["gifs"]
        ]
        return cls(index_path.parent.parent, payload["size"], payload["labels"], gifs)


def frames_dir(cache_dir: str | Path | None, size: int) -> Path:
    """Where entries of frame size ``size`` live under ``cache_dir`` (None: the default root)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"frames-v{CACHE_FORMAT}-S{size}"


def build_cache(
    dataset: GifDataset,
    *,
    size: int,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> FrameCache:
    """Decode and resize every GIF of ``dataset`` not cached yet; return the dataset's cache.

    Args:
        dataset: from :func:`~gifemo.data.sources.load_dataset`.
        size: frame side ``S`` in pixels (224 as in the paper; 112 or 64 for CPU training).
        cache_dir: cache root (default :func:`default_cache_dir`); datasets may be read-only.
        workers: decoding processes (default ``os.cpu_count()``); 1 decodes in this process.
        progress: show a progress bar (rich) while decoding.

    Undecodable files never stop the build: they are listed in ``FrameCache.failures``.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    started = time.perf_counter()
    directory = frames_dir(cache_dir, size)
    directory.mkdir(parents=True, exist_ok=True)
    todo = [r for r in dataset.records if _read_entry(directory, r.sha256) is None]
    # Failures that are not the file's fault (I/O errors) are kept here only, to be retried.
    transient: dict[str, dict] = {}
    if todo:
        jobs = [(str(r.path), r.sha256, size, str(directory)) for r in todo]
        for sha, meta in _run_jobs(jobs, workers=workers, progress=progress):
            if meta.get("transient"):
                transient[sha] = meta

    gifs = []
    for record in dataset.records:
        meta = transient.get(record.sha256) or _read_entry(directory, record.sha256)
        error = meta.get("error")
        gifs.append(
            CachedGif(
                rel_path=record.rel_path,
                label=record.label,
                label_index=record.label_index,
                sha256=record.sha256,
                n_frames=0 if error else int(meta["n_frames"]),
                durations_ms=() if error else tuple(meta["durations_ms"]),
                error=error,
                damage=meta.get("damage"),
            )
        )
    cache = FrameCache(
        directory,
        size,
        dataset.labels,
        gifs,
        decoded=len(todo),
        build_seconds=time.perf_counter() - started,
    )
    cache.save_index()
    return cache


def _entry_stem(directory: Path, sha256: str) -> Path:
    return directory / sha256[:2] / sha256


def _read_entry(directory: Path, sha256: str) -> dict | None:
    """The entry's metadata if the entry is complete, else None (to be (re)built)."""
    stem = _entry_stem(directory, sha256)
    try:
        meta = json.loads(stem.with_suffix(".json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if "error" not in meta and not stem.with_suffix(".npy").is_file():
        return None
    return meta


def _run_jobs(jobs: list[tuple], *, workers: int | None, progress: bool):
    """Yield ``(sha256, meta)`` per job, decoding in a process pool when it pays off."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    columns = (
        TextColumn("decoding GIFs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("decode", total=len(jobs))
        if workers == 1:
            results = (_decode_entry(*job) for job in jobs)
            for result in results:
                bar.advance(task)
                yield result
            return
        # spawn: the parent may hold torch threads, which fork would copy in a broken state.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for result in pool.map(_decode_entry, *zip(*jobs, strict=True), chunksize=1):
                bar.advance(task)
                yield result


def _decode_entry(path: str, sha256: str, size: int, directory: str) -> tuple[str, dict]:
    """Decode one GIF, store its resized frames and metadata; return ``(sha256, meta)``.

    Runs in a worker process and writes the entry itself, so only metadata crosses processes.
    Frames are resized as they are decoded: memory stays at one full-size canvas per worker.
    A truncated file keeps the frames before the damage, as a browser shows it.
    """
    from gifemo.io import GifError, iter_frames
    from gifemo.preprocess import resize_frame

    stem = _entry_stem(Path(directory), sha256)
    try:
        with iter_frames(path, strict=False) as frames:
            out = np.empty((frames.n_frames, size, size, 3), dtype=np.uint8)
            durations = []
            for frame in frames:
                out[frame.index] = resize_frame(frame.image, size)
                durations.append(frame.duration_ms)
            width, height, damage = frames.width, frames.height, frames.error
        out = out[: len(durations)]
    except GifError as error:
        meta = {"error": f"{type(error).__name__}: {error.reason}"}
        atomic_write_text(stem.with_suffix(".json"), json.dumps(meta))
        return sha256, meta
    except Exception as error:  # noqa: BLE001 - a bad file must not stop a batch
        return sha256, {"error": f"{type(error).__name__}: {error}", "transient": True}
    with atomic_write(stem.with_suffix(".npy"), "wb") as handle:
        np.save(handle, out)
    meta = {
        "n_frames": len(durations),
        "durations_ms": durations,
        "width": width,
        "height": height,
        "damage": None if damage is None else f"{type(damage).__name__}: {damage.reason}",
    }
    atomic_write_text(stem.with_suffix(".json"), json.dumps(meta))
    return sha256, meta
