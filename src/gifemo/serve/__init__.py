"""The HTTP service and web page: ``gifemo serve MODEL`` (see ``docs/serve.md``).

>>> from gifemo.serve import ServeSettings, create_app
>>> settings = ServeSettings(max_upload_bytes=5 * 2**20)
>>> app = create_app("runs/paper", settings=settings)  # doctest: +SKIP
"""

from __future__ import annotations

from gifemo.serve.app import create_app
from gifemo.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
