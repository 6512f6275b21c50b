"""gifemo: emotion recognition in animated GIFs.

The top-level namespace stays light (no torch import) so that ``gifemo --help``
and ``import gifemo`` are fast; heavy objects are imported on first use.
"""

from __future__ import annotations

from gifemo.labels import PAPER_EMOTIONS

__version__ = "0.1.0"

__all__ = ["PAPER_EMOTIONS", "__version__", "load"]


def __getattr__(name: str):
    if name == "load":
        from gifemo.inference import load

        return load
    raise AttributeError(f"module 'gifemo' has no attribute {name!r}")
