"""Turn a path, ``bytes`` or binary file object into one read-only buffer plus a name for messages.

Paths are memory-mapped, so that reading a long GIF frame by frame keeps only the pages in use in
memory instead of the whole file.
"""

from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gifemo.io.errors import NotAnImageError

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


def source_name(source: Source) -> str:
    """The name used in messages: the path, the file object's name, or ``"<bytes>"``."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, (str, os.PathLike)) else "<file object>"


@dataclass
class SourceBuffer:
    """The bytes of a source (``data`` supports slicing and ``len``) and its ``name``."""

    data: bytes | mmap.mmap
    name: str
    _mapping: mmap.mmap | None = field(default=None, repr=False)

    def close(self) -> None:
        if self._mapping is not None:
            self._mapping.close()
            self._mapping = None

    def __enter__(self) -> SourceBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(source: Source) -> SourceBuffer:
    """Open ``source`` for reading; raise :class:`NotAnImageError` for an empty or missing file."""
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise NotAnImageError(
                name, "no such file" if not path.exists() else "not a regular file"
            )
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                raise NotAnImageError(name, "the file is empty")
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return SourceBuffer(mapping, name, mapping)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, io.IOBase) or hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(
                f"{name}: expected a binary file object, read() returned {type(data).__name__}"
            )
        data = bytes(data)
    else:
        raise TypeError(
            f"expected a path, bytes or a binary file object, got {type(source).__name__}"
        )
    if not data:
        raise NotAnImageError(name, "the data is empty")
    return SourceBuffer(data, name)
