"""Where webresearch keeps what it builds on the user's machine: caches, corpora, indexes."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> str:
    """``$WEBRESEARCH_CACHE_DIR``, else ``~/.cache/webresearch``.

    Example:
        >>> import os
        >>> os.environ["WEBRESEARCH_CACHE_DIR"] = "/tmp/wr"
        >>> default_cache_dir()
        '/tmp/wr'
        >>> del os.environ["WEBRESEARCH_CACHE_DIR"]
    """
    return os.environ.get("WEBRESEARCH_CACHE_DIR") or str(Path.home() / ".cache" / "webresearch")
