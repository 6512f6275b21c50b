"""Fetch the GIFs of a ranked manifest into a dataset folder, from GIPHY or the images tar.

Layout written (a dataset ``gifemo train`` reads as it is)::

    DIR/<label>/<id>.gif        one file per manifest row that could be fetched
    DIR/manifest.csv            path,label,id,url,score,rank of the files present (paths relative)
    DIR/download_report.json    counts per outcome and every failure (id, url, label, reason)

Guarantees:
    * a file appears in ``DIR`` only complete and checked: the body streams into a temporary
      file beside its target (:func:`gifemo.atomic.atomic_write`), is decoded in full with
      :mod:`gifemo.io`, and only then renamed. A 404, a cut body, an HTML error page or a file
      over ``max_bytes`` leaves nothing behind;
    * resumable: a target that already exists and whose headers parse as a GIF is skipped
      without a request (files only ever land complete, so that cheap check suffices);
    * a failure never stops the batch: it is recorded and reported at the end.

Retries (HTTP): connection errors, timeouts, incomplete bodies, 429 and 5xx are retried up to
``retries`` times with exponential backoff and jitter (``Retry-After`` honoured up to
``max_backoff_s``); other statuses (404, 403, 410...) and invalid content are final.

Images tar (``--from-tar``): members are matched by file name, ``<id>.gif`` (or ``<id>``) in any
folder; the tar is read once, as a stream, so a compressed tar works too.

One download into a given ``DIR`` at a time: at the start, leftover temporary files of the
manifest's targets (from a killed run) are removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import httpx

from gifemo.atomic import atomic_write, atomic_write_text
from gifemo.data.gifgif.comparisons import is_valid_gif_id
from gifemo.io import GifError, NotAnImageError, TruncatedGifError, iter_frames, probe

OUTCOMES: tuple[str, ...] = ("downloaded", "present", "failed")
REPORT_NAME = "download_report.json"
MANIFEST_NAME = "manifest.csv"

# Statuses worth another try: rate limiting and server-side trouble.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ManifestEntry:
    """One row of a ranked manifest. ``extra`` keeps the other columns (score, rank, ...)."""

    id: str
    label: str
    url: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def relpath(self) -> str:
        """Where the GIF goes, relative to the dataset folder: ``<label>/<id>.gif``."""
        return f"{self.label}/{self.id}.gif"


def read_manifest(path: str | os.PathLike) -> list[ManifestEntry]:
    """Read a manifest with columns ``id,label`` (and usually ``url``; extras are kept).

    Raises:
        ValueError: missing columns, an id that is not a GIPHY id, an unusable label, or the
            same ``(id, label)`` twice; the message names the file and the line.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {sorted(missing)} (have {reader.fieldnames})"
            )
        entries: list[ManifestEntry] = []
        seen: set[tuple[str, str]] = set()
        for line, row in enumerate(reader, start=2):
            gif_id, label = (row.get("id") or "").strip(), (row.get("label") or "").strip()
            if not is_valid_gif_id(gif_id):
                raise ValueError(f"{path}:{line}: {gif_id!r} is not a GIPHY id")
            if not label or label.startswith(".") or "/" in label or "\\" in label:
                raise ValueError(f"{path}:{line}: unusable label {label!r} (it names a folder)")
            if (gif_id, label) in seen:
                raise ValueError(f"{path}:{line}: {gif_id} is listed twice under {label!r}")
            seen.add((gif_id, label))
            extra = {
                k: v for k, v in row.items() if k not in ("id", "label", "url") and k is not None
            }
            entries.append(ManifestEntry(gif_id, label, (row.get("url") or "").strip(), extra))
    return entries


@dataclass(frozen=True)
class DownloadConfig:
    """How to fetch.

    Attributes:
        concurrency: requests in flight at once (threads).
        timeout_s: limit for connecting and for each read of a response.
        retries: extra attempts after the first, for retryable failures only.
        backoff_s: first retry waits about this long; doubles each time, with jitter.
        max_backoff_s: cap on one wait (and on an honoured ``Retry-After``).
        max_bytes: a body larger than this is refused (and not retried).
        base_url: URL template with ``{id}``; ``None`` uses the manifest's ``url`` column.
    """

    concurrency: int = 8
    timeout_s: float = 30.0
    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_bytes: int = 64 * 2**20
    base_url: str | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.retries < 0 or self.timeout_s <= 0 or self.max_bytes < 1:
            raise ValueError(f"invalid download settings: {self}")
        if self.base_url is not None and "{id}" not in self.base_url:
            raise ValueError(f"base_url must contain '{{id}}', got {self.base_url!r}")

    def url_for(self, entry: ManifestEntry) -> str:
        if self.base_url is not None:
            return self.base_url.replace("{id}", entry.id)
        if not entry.url:
            raise ValueError(f"{entry.id}: no url in the manifest and no base_url given")
        return entry.url


@dataclass(frozen=True)
class ItemResult:
    """What happened to one manifest row. ``outcome`` is one of :data:`OUTCOMES`."""

    entry: ManifestEntry
    outcome: str
    url: str = ""
    reason: str = ""
    attempts: int = 0
    nbytes: int = 0


@dataclass
class DownloadReport:
    results: list[ItemResult]

    def counts(self) -> dict[str, int]:
        counter = Counter(r.outcome for r in self.results)
        return {outcome: counter.get(outcome, 0) for outcome in OUTCOMES}

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome == "failed"]

    def to_dict(self) -> dict:
        return {
            "counts": self.counts(),
            "failures": [
                {
                    "id": r.entry.id,
                    "label": r.entry.label,
                    "url": r.url,
                    "reason": r.reason,
                    "attempts": r.attempts,
                }
                for r in self.failures
            ],
        }


class TooLargeError(ValueError):
    """The body is over ``max_bytes``."""


def check_gif(data: bytes, *, name: str = "<bytes>") -> None:
    """Raise a :class:`~gifemo.io.GifError` unless ``data`` is a GIF that decodes to the end."""
    info = probe(data)
    if info.format != "GIF":
        raise NotAnImageError(name, f"is a {info.format} image, not a GIF")
    for _ in iter_frames(data, strict=True):  # every frame, so corrupt pixel data is caught too
        pass


def is_complete_gif(path: Path) -> bool:
    """Cheap resume check: ``path`` exists and its GIF structure parses to the trailer."""
    try:
        return path.is_file() and probe(path).format == "GIF"
    except GifError:
        return False


def store_validated(dest: Path, chunks: Iterable[bytes], *, max_bytes: int) -> int:
    """Write ``chunks`` to ``dest`` atomically if they form a valid GIF; return the byte count.

    Raises:
        TooLargeError: more than ``max_bytes`` arrived (nothing is left on disk).
        GifError: the data is not a complete, decodable GIF (nothing is left on disk).
    """
    with atomic_write(dest, "w+b") as handle:
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise TooLargeError(f"body larger than max_bytes={max_bytes}")
            handle.write(chunk)
        handle.flush()
        handle.seek(0)
        check_gif(handle.read(), name=str(dest))
    return size


def _backoff(attempt: int, config: DownloadConfig, retry_after: float | None) -> float:
    """Exponential backoff with equal jitter: half fixed, half random; ``Retry-After`` as floor."""
    delay = min(config.max_backoff_s, config.backoff_s * 2 ** (attempt - 1))
    delay = delay / 2 + random.uniform(0, delay / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, config.max_backoff_s))
    return delay


def _content_length(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("content-length") or 0)
    except ValueError:
        return 0  # malformed: the streamed size check still applies


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: fall back to the backoff


def fetch_one(
    client: httpx.Client, entry: ManifestEntry, out_dir: Path, config: DownloadConfig
) -> ItemResult:
    """Fetch one GIF into ``out_dir/<label>/<id>.gif`` (or skip it if already there)."""
    dest = out_dir / entry.relpath
    url = config.url_for(entry)
    if is_complete_gif(dest):
        return ItemResult(entry, "present", url=url)
    reason = ""
    attempt = 0
    for attempt in range(1, config.retries + 2):
        retry_after = None
        try:
            with client.stream("GET", url) as response:
                if response.status_code == 200:
                    declared = _content_length(response)
                    if declared > config.max_bytes:
                        raise TooLargeError(
                            f"Content-Length {declared} > max_bytes={config.max_bytes}"
                        )
                    nbytes = store_validated(
                        dest, response.iter_bytes(), max_bytes=config.max_bytes
                    )
                    return ItemResult(entry, "downloaded", url=url, attempts=attempt, nbytes=nbytes)
                reason = f"HTTP {response.status_code}"
                if response.status_code not in _RETRY_STATUSES:
                    return ItemResult(entry, "failed", url=url, reason=reason, attempts=attempt)
                retry_after = _retry_after(response)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            return ItemResult(
                entry, "failed", url=url, reason=f"bad URL: {error}", attempts=attempt
            )
        except httpx.TimeoutException as error:
            reason = f"timeout ({type(error).__name__})"
        except httpx.TransportError as error:  # refused, reset, body shorter than announced...
            reason = f"{type(error).__name__}: {error}"
        except TruncatedGifError as error:  # cut without notice: likely transient, try again
            reason = f"truncated GIF: {error.reason}"
        except GifError as error:
            return ItemResult(
                entry,
                "failed",
                url=url,
                reason=f"not a valid GIF: {error.reason}",
                attempts=attempt,
            )
        except TooLargeError as error:
            return ItemResult(entry, "failed", url=url, reason=str(error), attempts=attempt)
        except OSError as error:  # writing the file (disk full, permissions): report, go on
            return ItemResult(
                entry, "failed", url=url, reason=f"cannot write {dest}: {error}", attempts=attempt
            )
        if attempt <= config.retries:
            time.sleep(_backoff(attempt, config, retry_after))
    return ItemResult(
        entry, "failed", url=url, reason=f"{reason} (after {attempt} attempts)", attempts=attempt
    )


def _remove_stale_temporaries(entries: Sequence[ManifestEntry], out_dir: Path) -> None:
    """Delete temporary files a killed run left beside this manifest's targets."""
    for folder in {(out_dir / e.label) for e in entries}:
        if folder.is_dir():
            for tmp in folder.glob(".*.gif.*.tmp"):
                tmp.unlink(missing_ok=True)


def download_gifs(
    entries: Sequence[ManifestEntry],
    out_dir: str | os.PathLike,
    *,
    config: DownloadConfig = DownloadConfig(),
    on_result: Callable[[ItemResult], None] | None = None,
) -> DownloadReport:
    """Fetch every entry over HTTP(S) with ``config.concurrency`` threads; never raises per item.

    ``on_result`` is called in the calling thread as each item finishes (for progress).
    Results come back in manifest order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(entries, out_dir)
    from gifemo import __version__

    client = httpx.Client(
        timeout=httpx.Timeout(config.timeout_s),
        follow_redirects=True,
        headers={"User-Agent": f"gifemo/{__version__} (dataset download)"},
        limits=httpx.Limits(max_connections=config.concurrency),
    )
    results: dict[int, ItemResult] = {}
    with client, ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        futures = {
            pool.submit(fetch_one, client, e, out_dir, config): k for k, e in enumerate(entries)
        }
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if on_result is not None:
                on_result(result)
    return DownloadReport([results[k] for k in range(len(entries))])


def _tar_key(member_name: str) -> str | None:
    """The GIPHY id a tar member holds, from its file name (``<id>.gif`` or ``<id>``)."""
    name = PurePosixPath(member_name).name
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        return name
    return stem if suffix.lower() == "gif" else None


def _store_member(
    entry: ManifestEntry, data: bytes | None, size: int, url: str, out_dir: Path, *, max_bytes: int
) -> ItemResult:
    """Check and write one tar member's bytes (``None``: over ``max_bytes``) for ``entry``."""
    dest = out_dir / entry.relpath
    try:
        if data is None:
            raise TooLargeError(f"member of {size} bytes > max_bytes={max_bytes}")
        nbytes = store_validated(dest, [data], max_bytes=max_bytes)
    except GifError as error:
        return ItemResult(
            entry, "failed", url=url, reason=f"not a valid GIF: {error.reason}", attempts=1
        )
    except TooLargeError as error:
        return ItemResult(entry, "failed", url=url, reason=str(error), attempts=1)
    except OSError as error:
        return ItemResult(
            entry, "failed", url=url, reason=f"cannot write {dest}: {error}", attempts=1
        )
    return ItemResult(entry, "downloaded", url=url, attempts=1, nbytes=nbytes)


def extract_from_tar(
    entries: Sequence[ManifestEntry],
    tar_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_bytes: int = DownloadConfig.max_bytes,
    on_result: Callable[[ItemResult], None] | None = None,
) -> DownloadReport:
    """Take the manifest's GIFs from the images tar (read once, streaming) instead of the web.

    Members are matched by file name (see the module doc); ids absent from the tar are failures,
    and so are those not reached when the tar turns out cut or corrupt part-way.

    Raises:
        ValueError: ``tar_path`` cannot be opened as a tar at all.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(entries, out_dir)
    tar_path = Path(tar_path)
    results: dict[int, ItemResult] = {}
    pending: dict[str, list[int]] = {}  # id -> positions still to fill (one id, several labels)

    def finish(k: int, result: ItemResult) -> None:
        results[k] = result
        if on_result is not None:
            on_result(result)

    for k, entry in enumerate(entries):
        if is_complete_gif(out_dir / entry.relpath):
            finish(k, ItemResult(entry, "present", url=f"tar:{tar_path.name}"))
        else:
            pending.setdefault(entry.id, []).append(k)

    unreadable = ""
    if pending:
        try:
            tar = tarfile.open(tar_path, mode="r|*")
        except (tarfile.TarError, OSError) as error:
            raise ValueError(f"{tar_path}: not a readable tar: {error}") from error
        with tar:
            try:
                for member in tar:
                    key = _tar_key(member.name) if member.isfile() else None
                    if key not in pending:
                        continue
                    data = tar.extractfile(member).read() if member.size <= max_bytes else None
                    url = f"tar:{tar_path.name}/{member.name}"
                    for k in pending.pop(key):
                        finish(
                            k,
                            _store_member(
                                entries[k], data, member.size, url, out_dir, max_bytes=max_bytes
                            ),
                        )
                    if not pending:
                        break  # everything found: no need to read the rest of a large tar
            except (tarfile.TarError, EOFError) as error:  # a cut or corrupt tar
                unreadable = f"tar unreadable after {tar.offset:,} bytes: {error}"
    for positions in pending.values():
        for k in positions:
            finish(
                k,
                ItemResult(
                    entries[k],
                    "failed",
                    url=f"tar:{tar_path.name}",
                    reason=unreadable or "no member named <id>.gif in the tar",
                ),
            )
    return DownloadReport([results[k] for k in range(len(entries))])


def write_dataset_files(out_dir: str | os.PathLike, report: DownloadReport) -> tuple[Path, Path]:
    """Write ``DIR/manifest.csv`` (the GIFs present) and ``DIR/download_report.json``.

    The manifest's ``path`` is relative to ``DIR``, so it is also a ``path,label`` dataset
    manifest; the other columns (id, url, score, rank...) ride along.
    """
    out_dir = Path(out_dir)
    present = [r for r in report.results if r.outcome in ("downloaded", "present")]
    extra_columns = list(dict.fromkeys(k for r in present for k in r.entry.extra))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "id", "url", *extra_columns])
    for r in present:
        e = r.entry
        url = e.url or r.url
        writer.writerow(
            [e.relpath, e.label, e.id, url, *(e.extra.get(c, "") for c in extra_columns)]
        )
    manifest_path = out_dir / MANIFEST_NAME
    report_path = out_dir / REPORT_NAME
    atomic_write_text(manifest_path, buffer.getvalue())
    atomic_write_text(report_path, json.dumps(report.to_dict(), indent=2) + "\n")
    return manifest_path, report_path


__all__ = [
    "DownloadConfig",
    "DownloadReport",
    "ItemResult",
    "ManifestEntry",
    "OUTCOMES",
    "check_gif",
    "download_gifs",
    "extract_from_tar",
    "fetch_one",
    "read_manifest",
    "store_validated",
    "write_dataset_files",
]
