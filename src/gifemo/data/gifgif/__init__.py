"""GIFGIF ingestion: rebuild the paper's dataset from the public release.

``gifemo data gifgif rank`` scores every GIF per emotion from the ~1.1 M pairwise votes and
writes the top N per emotion as a manifest; ``gifemo data gifgif download`` fetches those GIFs
into ``DIR/<label>/<id>.gif``. See ``docs/gifgif.md``.

Modules: :mod:`.comparisons` (streaming reader), :mod:`.scoring` (Bradley-Terry, TrueSkill),
:mod:`.rank` (selection, labels, manifest), :mod:`.download` (HTTP and tar fetching),
:mod:`.simulate` (synthetic comparison files from known strengths).
"""

from gifemo.data.gifgif.comparisons import Comparisons, MetricVotes, read_comparisons
from gifemo.data.gifgif.download import (
    DownloadConfig,
    DownloadReport,
    ManifestEntry,
    download_gifs,
    extract_from_tar,
    read_manifest,
    write_dataset_files,
)
from gifemo.data.gifgif.rank import (
    DEFAULT_BASE_URL,
    DEFAULT_EMOTIONS,
    RankConfig,
    RankResult,
    rank_comparisons,
    select_top,
    write_manifest,
)
from gifemo.data.gifgif.scoring import fit_bradley_terry, fit_trueskill

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_EMOTIONS",
    "Comparisons",
    "DownloadConfig",
    "DownloadReport",
    "ManifestEntry",
    "MetricVotes",
    "RankConfig",
    "RankResult",
    "download_gifs",
    "extract_from_tar",
    "fit_bradley_terry",
    "fit_trueskill",
    "rank_comparisons",
    "read_comparisons",
    "read_manifest",
    "select_top",
    "write_dataset_files",
    "write_manifest",
]
