"""Generate the built-in dataset: ``OUT_DIR/<label>/<label>_<index>.gif`` (human style),
``OUT_DIR/<label>/emoji_<label>_<index>.gif`` (emoji style) plus ``labels.csv``.

Every GIF depends only on ``(seed, style, label, index, size, difficulty)``: its own seed comes
from ``numpy.random.SeedSequence(seed, spawn_key=(class_index, index))`` for the human style (as
in the first version) and ``spawn_key=(class_index, index, 1)`` for the emoji style, so the
bytes are the same whatever the number of worker processes, the order they finish in, or which
other styles are generated alongside.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gifemo.atomic import atomic_write_text
from gifemo.data.synth.render import encode, render_frames
from gifemo.data.synth.spec import DEFAULT_DIFFICULTY, STYLES, GifSpec, sample_spec
from gifemo.io.encode import GifEncoding
from gifemo.labels import PAPER_EMOTIONS, validate_label_set

LABELS_CSV = "labels.csv"
CSV_COLUMNS = ("path", "label", "frames", "seed", "params", "style")
MIN_SIZE, MAX_SIZE = 32, 1024
#: File-name prefix of each style (the human style keeps the first version's names).
_PREFIX = {"human": "", "emoji": "emoji_"}


def item_seed(seed: int, class_index: int, index: int, style: str = "human") -> int:
    """The seed of GIF ``index`` of class ``class_index`` and ``style`` in a dataset generated
    with ``seed``."""
    key = (class_index, index) + (() if style == "human" else (STYLES.index(style),))
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def gif_name(label: str, index: int, style: str = "human") -> str:
    return f"{_PREFIX[style]}{label}_{index:05d}.gif"


def style_of(path: str | os.PathLike) -> str:
    """The style of a generated GIF from its path (``.../emoji_fear_00003.gif`` -> ``"emoji"``).

    Works on paths relative to the dataset (labels.csv, predictions.csv) or absolute ones.
    """
    name = Path(path).name
    return next((s for s, pre in _PREFIX.items() if pre and name.startswith(pre)), "human")


def parse_styles(styles: str | Sequence[str]) -> tuple[str, ...]:
    """``"human,emoji"`` or a sequence -> a tuple of known styles, without repeats."""
    names = styles.split(",") if isinstance(styles, str) else list(styles)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in STYLES]
    if unknown or not names:
        raise ValueError(f"styles must be a non-empty list from {list(STYLES)}, got {styles!r}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class SynthGif:
    """One generated GIF: its spec, encoded bytes and what a decoder will show."""

    spec: GifSpec
    data: bytes
    encoding: GifEncoding


def make_gif(
    label: str,
    seed: int,
    *,
    size: int = 128,
    difficulty: float = DEFAULT_DIFFICULTY,
    style: str = "human",
) -> SynthGif:
    """Render and encode one GIF in memory (the dataset writes exactly these bytes)."""
    spec = sample_spec(label, seed, size=size, difficulty=difficulty, style=style)
    buf = io.BytesIO()
    encoding = encode(spec, render_frames(spec), buf)
    return SynthGif(spec, buf.getvalue(), encoding)


@dataclass(frozen=True)
class _Task:
    out_dir: str
    label: str
    class_index: int
    index: int
    seed: int
    size: int
    difficulty: float
    style: str = "human"

    @property
    def order(self) -> tuple[int, int, int]:
        """Rows are listed by class, then style, then index."""
        return self.class_index, STYLES.index(self.style), self.index


def _run(task: _Task) -> tuple[_Task, dict | None, str | None]:
    """Write one GIF; returns its labels.csv row, or the error (a batch goes on past failures)."""
    rel = f"{task.label}/{gif_name(task.label, task.index, task.style)}"
    try:
        spec = sample_spec(
            task.label, task.seed, size=task.size, difficulty=task.difficulty, style=task.style
        )
        encode(spec, render_frames(spec), Path(task.out_dir) / rel)
    except Exception as error:  # noqa: BLE001 - reported per file at the end
        return task, None, f"{rel}: {type(error).__name__}: {error}"
    row = {
        "path": rel,
        "label": task.label,
        "frames": spec.n_frames,
        "seed": task.seed,
        "params": spec.params_json(),
        "style": task.style,
    }
    return task, row, None


@dataclass
class SynthSummary:
    """What ``generate_dataset`` did."""

    out_dir: Path
    written: int
    labels_csv: Path
    seconds: float
    failures: list[str] = field(default_factory=list)
    removed_stale: int = 0

    @property
    def gifs_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("inf")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _remove_stale(out: Path, labels: Sequence[str], keep: set[str]) -> int:
    """Delete generator-named GIFs (of any style) left by an earlier, larger run or by styles
    not asked for this time (nothing else is touched)."""
    removed = 0
    prefixes = "|".join(re.escape(p) for p in _PREFIX.values() if p)
    for label in labels:
        pattern = re.compile(rf"(?:{prefixes})?{re.escape(label)}_\d{{5}}\.gif")
        folder = out / label
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if pattern.fullmatch(path.name) and f"{label}/{path.name}" not in keep:
                path.unlink()
                removed += 1
    return removed


def generate_dataset(
    out_dir: str | os.PathLike,
    *,
    per_class: int | Mapping[str, int] = 300,
    size: int = 128,
    seed: int = 0,
    difficulty: float = DEFAULT_DIFFICULTY,
    workers: int | None = None,
    labels: Sequence[str] = PAPER_EMOTIONS,
    styles: str | Sequence[str] = ("human",),
    progress: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Write ``per_class`` GIFs per label and style under ``out_dir`` and ``out_dir/labels.csv``.

    Args:
        out_dir: created if missing. Existing files of the same names are replaced (atomically);
            generator-named GIFs beyond ``per_class`` (or of styles not asked for) from an
            earlier run are deleted so the folder tree and labels.csv agree.
        per_class: GIFs per label *and per style*: ``styles=("human", "emoji"), per_class=100``
            writes 100 + 100 GIFs per label. A mapping ``{style: n}`` sets each style's count.
        size: frame width and height in pixels, in [32, 1024].
        seed: the dataset seed; same arguments, same bytes.
        difficulty: in [0, 1]; see docs/synthetic-data.md.
        workers: processes (default: the CPUs this process may use); 1 runs in-process.
        labels: classes to generate, a subset of the paper's seven.
        styles: ``"human"`` (default), ``"emoji"``, or both (``"human,emoji"``).
        progress: called as ``progress(done, total)`` after each GIF.

    Returns:
        A ``SynthSummary``; GIFs that failed are listed in ``failures`` and left out of labels.csv.
    """
    labels = validate_label_set(labels)
    unknown = [x for x in labels if x not in PAPER_EMOTIONS]
    if unknown:
        raise ValueError(
            f"no synthetic generator for labels {unknown}; choose from {list(PAPER_EMOTIONS)}"
        )
    styles = parse_styles(styles)
    if isinstance(per_class, Mapping):
        missing = [s for s in styles if s not in per_class]
        if missing:
            raise ValueError(f"per_class has no count for styles {missing}")
        counts = {s: int(per_class[s]) for s in styles}
    else:
        counts = dict.fromkeys(styles, int(per_class))
    if min(counts.values()) < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be in [{MIN_SIZE}, {MAX_SIZE}] px, got {size}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [
        _Task(
            str(out),
            label,
            PAPER_EMOTIONS.index(label),
            i,
            item_seed(seed, PAPER_EMOTIONS.index(label), i, style),
            size,
            float(difficulty),
            style,
        )
        for label in labels
        for style in styles
        for i in range(counts[style])
    ]
    start = time.perf_counter()
    rows: dict[tuple[int, int, int], dict] = {}
    failures: list[str] = []
    for done, (task, row, error) in enumerate(_map(tasks, workers), start=1):
        if row is not None:
            rows[task.order] = row
        else:
            failures.append(error or "unknown error")
        if progress is not None:
            progress(done, len(tasks))

    ordered = [rows[k] for k in sorted(rows)]
    removed = _remove_stale(out, labels, {r["path"] for r in ordered})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(ordered)
    atomic_write_text(out / LABELS_CSV, buf.getvalue())
    return SynthSummary(
        out, len(ordered), out / LABELS_CSV, time.perf_counter() - start, sorted(failures), removed
    )


def _map(tasks: list[_Task], workers: int):
    if workers == 1 or len(tasks) == 1:
        yield from map(_run, tasks)
        return
    # "spawn" keeps workers independent of whatever the parent process holds (threads, torch).
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(workers, len(tasks))) as pool:
        # Long GIFs cost many times more than short ones: hand out small chunks.
        yield from pool.imap_unordered(_run, tasks, chunksize=4)
