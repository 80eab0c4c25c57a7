"""A JSONL corpus on disk: its documents by row, by URL, read without loading the file."""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from webresearch.errors import ConfigError
from webresearch.untrusted import loads_json

__all__ = ["CorpusDoc", "DocTable", "parse_record", "scan_corpus"]


@dataclass(frozen=True, slots=True)
class CorpusDoc:
    """One passage of a corpus.

    Attributes:
        id: The corpus's own id for it (its ``id`` field, else ``_id``, else, when both
            are missing or null, its row number).
        title: The title ("" when the corpus has none).
        text: The passage text, without the title.
        url: A stable URL: the record's ``url`` field, else ``corpus://<name>/<id>``.
    """

    id: str
    title: str
    text: str
    url: str


def parse_record(line: bytes | str, *, row: int, name: str) -> CorpusDoc:
    """Read one JSONL line in FlashRAG/Search-R1 (``contents``) or title/text layout.

    Example:
        >>> parse_record('{"id": "7", "contents": "\\\\"Ada\\\\"\\\\nAda wrote."}', row=0, name="w")
        CorpusDoc(id='7', title='Ada', text='Ada wrote.', url='corpus://w/7')
        >>> parse_record('{"title": "Bob", "text": "Bob ran."}', row=3, name="w").url
        'corpus://w/3'
    """
    where = f"Corpus {name!r} record {row + 1}"
    try:
        record: Any = loads_json(line)
    except ValueError as exc:
        raise ConfigError(f"{where} is not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: expects a JSON object")
    if "contents" in record:
        head, _, body = _scalar(record["contents"], "contents", where).partition("\n")
        title, text = head.strip().strip('"'), body.strip()
    elif "text" in record:
        title = _scalar(record.get("title") or "", "title", where)
        text = _scalar(record["text"], "text", where)
    else:
        raise ConfigError(f"{where}: expects a 'contents' field (FlashRAG) or a 'text' field, "
                          f"actual keys: {sorted(record)[:20]}")
    given = _own_id(record)
    doc_id = _scalar(row if given is None else given, "id", where)
    url = _scalar(record.get("url") or f"corpus://{name}/{quote(doc_id, safe='')}", "url", where)
    return CorpusDoc(id=doc_id, title=title, text=text, url=url)


def _own_id(record: dict[str, Any]) -> Any:
    """The record's ``id``, else its ``_id``; ``None`` when both are missing or null."""
    return next((record[k] for k in ("id", "_id") if record.get(k) is not None), None)


def _scalar(value: Any, field: str, where: str) -> str:
    """A string field as text (a number as its digits); a ``ConfigError`` for a container."""
    if isinstance(value, list | dict):
        raise ConfigError(f"{where}: expects {field!r} to be text, actual: "
                          f"{type(value).__name__}")
    return value if isinstance(value, str) else str(value)


def url_key(url: str) -> int:
    """A 63-bit hash of ``url``, the key of the URL table."""
    digest = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def scan_corpus(path: Path, name: str) -> Iterator[tuple[int, CorpusDoc]]:
    """Yield ``(byte offset, document)`` for every non-blank line of the file.

    Two records with one id, or with one URL, are a :class:`~webresearch.errors.ConfigError`
    naming it and both record numbers, raised as the scan ends, before anything is saved:
    a retriever's hit names a passage by its id, and browsing a URL shows only one of the
    records that have it. The check keeps 16 bytes a record (the hashes of its id and URL),
    sorts them once, and reads the file again only when two hashes are equal.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.jsonl"
        >>> _ = path.write_text('{"text": "x"}\\n{"id": "b", "text": "y"}\\n'
        ...                     '{"id": 0, "text": "z"}\\n')
        >>> list(scan_corpus(path, "c"))
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Corpus 'c' record 3: expects an id no other record
        has, actual: '0', the id of record 1 (no id: its row number) too
    """
    ids, urls = array("q"), array("q")
    for offset, row, line in _lines(path):
        doc = parse_record(line, row=row, name=name)
        ids.append(hash(doc.id))
        urls.append(hash(doc.url))
        yield offset, doc
    _refuse_repeats(path, name, "id", ids)
    _refuse_repeats(path, name, "URL", urls)


def _refuse_repeats(path: Path, name: str, what: str, hashes: array[int]) -> None:
    """A ``ConfigError`` for the first record whose id (or URL) an earlier one has."""
    ranked = np.sort(np.frombuffer(hashes, dtype=np.int64))
    suspects = set(ranked[1:][ranked[1:] == ranked[:-1]].tolist())
    first: dict[str, str] = {}  # only the values whose hash repeats: a few, unless repeated
    article = "an" if what == "id" else "a"
    for _, row, line in _lines(path) if suspects else ():
        doc = parse_record(line, row=row, name=name)
        value = doc.id if what == "id" else doc.url
        if hash(value) in suspects:
            record = f"record {row + 1}"
            if what == "id" and _own_id(loads_json(line)) is None:
                record += " (no id: its row number)"
            if value in first:
                raise ConfigError(f"Corpus {name!r} {record}: expects {article} {what} no "
                                  f"other record has, actual: {value!r}, the {what} of "
                                  f"{first[value]} too")
            first[value] = record


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """``(byte offset, row, line)`` for every non-blank line of the file."""
    with path.open("rb") as f:
        offset = 0
        row = 0
        for line in f:
            if line.strip():
                yield offset, row, line
                row += 1
            offset += len(line)


class DocTable:
    """Row -> document and URL -> row over the JSONL file, from arrays saved beside the index.

    ``offsets`` (rows + 1 byte offsets) locate every line; URLs are found through a
    sorted array of URL hashes, so a 21M-passage corpus costs ~400 MB of
    memory-mapped arrays, not a dictionary of strings.
    """

    FILES = ("offsets.npy", "url_keys.npy", "url_rows.npy")

    def __init__(self, corpus: Path, name: str, offsets: np.ndarray,
                 url_keys: np.ndarray, url_rows: np.ndarray) -> None:
        self.path, self.name = corpus, name
        self.offsets, self.url_keys, self.url_rows = offsets, url_keys, url_rows
        self._fd = os.open(corpus, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @staticmethod
    def save(directory: Path, offsets: Sequence[int], urls: Sequence[int]) -> None:
        """Write the arrays for documents at byte ``offsets`` (plus the end) with URL keys
        (lists, or ``array("q")`` for a large corpus: 8 bytes an entry)."""
        keys = np.asarray(urls, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        np.save(directory / "offsets.npy", np.asarray(offsets, dtype=np.int64))
        np.save(directory / "url_keys.npy", keys[order])
        np.save(directory / "url_rows.npy", order.astype(np.int64))

    @classmethod
    def load(cls, directory: Path, corpus: Path, name: str) -> DocTable:
        arrays = [np.load(directory / f, mmap_mode="r") for f in cls.FILES]
        return cls(corpus, name, *arrays)

    def doc(self, row: int) -> CorpusDoc:
        """The document at ``row`` (0-based, in file order)."""
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return parse_record(os.pread(self._fd, end - start, start), row=row, name=self.name)

    def row_of(self, url: str) -> int | None:
        """The row of the document whose URL is ``url``, or ``None``."""
        key = url_key(url)
        lo = int(np.searchsorted(self.url_keys, key, side="left"))
        while lo < len(self.url_keys) and int(self.url_keys[lo]) == key:
            row = int(self.url_rows[lo])
            if self.doc(row).url == url:
                return row
            lo += 1
        return None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
