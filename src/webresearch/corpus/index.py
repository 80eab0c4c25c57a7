"""A corpus and its indexes: built once into a folder beside the corpus, loaded from it after."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from webresearch._home import default_cache_dir
from webresearch.corpus.documents import CorpusDoc, DocTable, scan_corpus, url_key
from webresearch.corpus.retrievers import Retriever, retriever_class
from webresearch.errors import ConfigError

__all__ = ["CorpusIndex", "Hit", "index_dir_for"]

logger = logging.getLogger(__name__)

FORMAT = 2
"""Version of the on-disk layout; an index of another version is rebuilt.

2: duplicate URLs refused, a null id read as missing (indexes of 1 may hold either)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved passage and its score."""

    doc: CorpusDoc
    score: float


def _text(doc: CorpusDoc) -> str:
    """What the retrievers index: the title, then the passage."""
    return f"{doc.title}\n{doc.text}"


class _Texts(Sequence[str]):
    """The passages' texts read back through a document table, one at a time."""

    def __init__(self, docs: DocTable) -> None:
        self.docs = docs

    def __len__(self) -> int:
        return len(self.docs)

    def __getitem__(self, row: int) -> str:  # type: ignore[override]
        if not 0 <= row < len(self.docs):
            raise IndexError(row)
        return _text(self.docs.doc(row))


def _stamp(corpus: Path) -> dict[str, object]:
    stat = corpus.stat()
    return {"format": FORMAT, "corpus": str(corpus), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns}


def index_dir_for(corpus: Path) -> Path:
    """``<corpus>.index/`` when its folder is writable, else a folder in the user cache."""
    if os.access(corpus.parent, os.W_OK):
        return corpus.with_name(corpus.name + ".index")
    digest = hashlib.sha1(str(corpus).encode()).hexdigest()[:16]
    return Path(default_cache_dir()) / "indexes" / f"{corpus.stem}-{digest}"


def _publish(tmp: Path, final: Path) -> None:
    """Move a finished build into place atomically (another process may have won the race)."""
    try:
        tmp.replace(final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


class CorpusIndex:
    """A JSONL corpus with its document table and one retriever, ready to search.

    The first open scans the corpus once and builds everything into ``index_dir``
    (a temporary folder renamed into place, so a killed build leaves no half index);
    later opens memory-map what was saved. A corpus that changed (size or
    modification time) is re-indexed.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.jsonl"
        >>> _ = path.write_text('{"id": "1", "title": "Ada", "text": "Ada wrote programs."}\\n'
        ...                     '{"id": "2", "title": "Bob", "text": "Bob grew apples."}\\n')
        >>> index = CorpusIndex.open(path)
        >>> [hit.doc.title for hit in index.search("who grew apples", k=5)]
        ['Bob']
        >>> index.doc_by_url("corpus://tiny/1").title
        'Ada'
        >>> index.close()
    """

    def __init__(self, docs: DocTable, retriever: Retriever) -> None:
        self.docs, self.retriever = docs, retriever

    @property
    def name(self) -> str:
        return self.docs.name

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def open(cls, corpus: str | Path, *, name: str | None = None, retriever: str = "bm25",
             index_dir: str | Path | None = None) -> CorpusIndex:
        """Open ``corpus`` (a JSONL file), building whatever index is missing or stale.

        Args:
            corpus: The JSONL file.
            name: The corpus's name in its URLs (``corpus://<name>/<id>``); the file stem
                by default.
            retriever: ``"bm25"`` or ``"dense"``.
            index_dir: Where the index lives; beside the corpus by default.
        """
        path = Path(corpus).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"Expects a JSONL corpus file, actual: {str(corpus)!r} "
                              "(no such file)")
        kind = retriever_class(retriever)
        name = name or path.name.removesuffix(".jsonl")
        root = Path(index_dir) if index_dir is not None else index_dir_for(path)
        texts: Sequence[str] | None = None
        if not cls._current(root, path):
            texts = cls._build_table(path, name, root,
                                     streaming=kind if kind.streaming else None)
        sub = root / kind.name
        if not sub.exists():
            docs = DocTable.load(root, path, name)
            try:
                if texts is None:  # the table is current: read the passages back through it
                    texts = _Texts(docs) if kind.streaming else list(_Texts(docs))
                cls._build_retriever(kind, texts, sub)
            finally:
                docs.close()
        return cls(DocTable.load(root, path, name), kind.load(sub))

    @staticmethod
    def _current(root: Path, corpus: Path) -> bool:
        try:
            return bool(json.loads((root / "manifest.json").read_text()) == _stamp(corpus))
        except (OSError, ValueError):
            return False

    @staticmethod
    def _build_table(corpus: Path, name: str, root: Path, *,
                     streaming: type[Retriever] | None = None) -> list[str] | None:
        """Index the documents' places and URLs; return their texts (for the retriever),
        or, given a ``streaming`` retriever, build it from them in the same pass."""
        start = time.perf_counter()
        offsets, keys = array("q"), array("q")  # 8 bytes a passage, not a Python int

        def scan() -> Iterator[str]:
            for offset, doc in scan_corpus(corpus, name):
                offsets.append(offset)
                keys.append(url_key(doc.url))
                yield _text(doc)

        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)  # stale: every retriever goes with it
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root.parent))
        texts = None
        try:
            if streaming is not None:  # it reads its texts once, in order: a generator will do
                streaming.build(cast("Sequence[str]", scan()), tmp / streaming.name)
            else:
                texts = list(scan())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        offsets.append(corpus.stat().st_size)
        DocTable.save(tmp, offsets, keys)
        (tmp / "manifest.json").write_text(json.dumps(_stamp(corpus)))
        _publish(tmp, root)
        logger.info("Indexed %d documents of %s in %.1f s", len(keys), corpus,
                    time.perf_counter() - start)
        return texts

    @staticmethod
    def _build_retriever(kind: type[Retriever], texts: Sequence[str], sub: Path) -> None:
        start = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=sub.parent))
        kind.build(texts, tmp)
        _publish(tmp, sub)
        logger.info("Built the %s index of %d documents in %.1f s", kind.name, len(texts),
                    time.perf_counter() - start)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first."""
        return [Hit(self.docs.doc(row), score) for row, score in self.retriever.search(query, k)]

    def doc_by_url(self, url: str) -> CorpusDoc | None:
        """The passage whose URL is ``url``, or ``None``."""
        row = self.docs.row_of(url)
        return None if row is None else self.docs.doc(row)

    def close(self) -> None:
        self.docs.close()
