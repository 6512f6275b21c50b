"""Turn what a user typed (files, folders, ``-``, URLs) into the sources a predictor reads.

Each command-line input becomes zero or more sources, in the order given:

* a file: itself, whatever its extension (the decoder judges the content);
* a folder: every ``.gif``/``.webp``/``.png``/``.apng`` file below it (any case, hidden files and
  folders skipped), sorted by path; a folder without any is reported as a failed input;
* ``-``: the bytes read from standard input, named ``<stdin>``;
* ``http://`` / ``https://``: the URL itself, fetched later under the guards of
  :mod:`gifemo.inference.fetch`;
* anything else that does not exist: kept, so that it fails with "no such file" like any bad input.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gifemo.data.sources import is_media_file
from gifemo.inference.fetch import is_url
from gifemo.io.source import source_name


@dataclass(frozen=True)
class NamedBytes:
    """In-memory data with the name to show for it (``<stdin>``, an upload's file name)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class InvalidInput:
    """An input that could not even be expanded into a source; reported as a failure."""

    name: str
    error: str


InputSource = Path | str | NamedBytes | InvalidInput


def expand_inputs(inputs: list[str], *, stdin: BinaryIO | None = None) -> list[InputSource]:
    """Expand command-line inputs into sources (paths, URL strings, :class:`NamedBytes`).

    ``stdin`` is the binary stream ``-`` reads (default ``sys.stdin.buffer``); ``-`` may appear
    once.
    """
    sources: list[InputSource] = []
    stdin_used = False
    for item in inputs:
        if item == "-":
            if stdin_used:
                sources.append(
                    InvalidInput("<stdin>", "'-' (standard input) can be given only once")
                )
                continue
            stdin_used = True
            stream = stdin if stdin is not None else sys.stdin.buffer
            sources.append(NamedBytes("<stdin>", stream.read()))
        elif is_url(item):
            sources.append(item)
        elif Path(item).is_dir():
            found = find_media_files(Path(item))
            if not found:
                sources.append(
                    InvalidInput(item, "the folder holds no .gif, .webp, .png or .apng file")
                )
            sources.extend(found)
        else:
            sources.append(Path(item))
    return sources


def find_media_files(root: Path) -> list[Path]:
    """Every animated-image file below ``root`` (recursive, extension case ignored, sorted)."""
    found = []
    for path in sorted(root.rglob("*")):
        rel_parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in rel_parts) or not path.is_file():
            continue
        if is_media_file(path):
            found.append(path)
    return found


def source_label(source: object) -> str:
    """The name shown for a source in tables, JSON and error messages."""
    if isinstance(source, (NamedBytes, InvalidInput)):
        return source.name
    return source_name(source)
