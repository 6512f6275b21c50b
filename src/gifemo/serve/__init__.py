"""The HTTP service and web page: ``gifemo serve MODEL`` (see ``docs/serve.md``).

>>> from gifemo.serve import ServeSettings, create_app
>>> app = create_app("runs/paper", settings=ServeSettings(max_upload_bytes=5 * 2**20))  # doctest: +SKIP
"""

from __future__ import annotations

from gifemo.serve.app import create_app
from gifemo.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
