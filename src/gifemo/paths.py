"""Where gifemo keeps what it works out once per machine: the cache root.

The frame cache (:mod:`gifemo.data.cache`) and the CPU precision probe (:mod:`gifemo.hardware`)
both live under it.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$GIFEMO_CACHE``, else ``$XDG_CACHE_HOME/gifemo``, else ``~/.cache/gifemo``."""
    if env := os.environ.get("GIFEMO_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gifemo"
