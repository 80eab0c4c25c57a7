"""``webresearch data``: fetch DeepResearcher's released questions and write them as a task
file, or fetch FlashRAG's wiki-18 passages (Search-R1's corpus) and write them as a corpus."""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from webresearch.errors import ConfigError, TaskError
from webresearch.tasks import Task, load_tasks

__all__ = ["DEEPRESEARCHER_URL", "WIKI18_URL", "add_data_command", "convert_wiki18",
           "default_out", "fetch_deepresearcher", "fetch_wiki18", "run_data"]

DEEPRESEARCHER_URL = ("https://raw.githubusercontent.com/GAIR-NLP/DeepResearcher/main/data/"
                      "{split}.parquet")
"""Where DeepResearcher's repository keeps each split, as Parquet in verl's layout."""

WIKI18_URL = ("https://huggingface.co/datasets/PeterJinGo/wiki-18-corpus/resolve/main/"
              "wiki-18.jsonl.gz")
"""FlashRAG's wiki-18 (Wikipedia, Dec. 2018, in 100-word passages), as Search-R1 hosts it:
gzipped JSONL of ``{"id", "contents"}``. FlashRAG's own copy,
``RUC-NLPIR/FlashRAG_datasets/retrieval-corpus/wiki18_100w.zip``, is read as well."""

SPLITS = ("dev", "test")
MAX_BYTES = 256 * 1024 * 1024  # the dev split is 0.15 MB, the test split 0.6 MB
MAX_CORPUS_BYTES = 64 * 2**30
"""Largest download and largest converted corpus (wiki-18 is ~5 GB packed, ~14 GB as JSONL)."""
MAX_LINE_BYTES = 1 << 20
"""Longest corpus record (a wiki-18 passage is about 600 bytes)."""


def add_data_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = commands.add_parser(
        "data", help="fetch DeepResearcher's questions (a JSONL task file) or FlashRAG's "
                     "wiki-18 passages (a JSONL corpus)")
    data.add_argument("dataset", choices=("deepresearcher", "wiki18"),
                      help="which release (deepresearcher: GAIR-NLP/DeepResearcher's data/; "
                           "wiki18: FlashRAG's wiki-18, Search-R1's 21M-passage corpus)")
    data.add_argument("--split", default="dev", choices=SPLITS,
                      help="dev (875 questions, 125 from each of 7 datasets) or test "
                           "(default: dev)")
    data.add_argument("--out", type=Path,
                      help="the JSONL file to write (default: data/deepresearcher_<split>.jsonl, "
                           "data/wiki-18.jsonl)")
    data.add_argument("--url", help="fetch from here instead (default: the repository's file "
                                    "for the split; for wiki18, Search-R1's wiki-18.jsonl.gz)")
    data.add_argument("--timeout", type=float, default=60.0,
                      help="seconds for the download (for wiki18: between two reads)")
    data.add_argument("--log-level", default="WARNING", help="logging level")


def run_data(args: argparse.Namespace) -> int:
    if args.dataset == "wiki18":
        out = args.out or Path("data") / "wiki-18.jsonl"
        url = args.url or WIKI18_URL
        count = fetch_wiki18(url, out, timeout_s=args.timeout)
        print(f"{count:,} passages from {url} written to {out} (serve them with: "
              f"webresearch serve-corpus {out})")
        return 0
    out = args.out or default_out(args.split)
    url = args.url or DEEPRESEARCHER_URL.format(split=args.split)
    tasks = fetch_deepresearcher(url, out, timeout_s=args.timeout)
    counts = Counter(t.dataset.lower() for t in tasks)
    print(f"{len(tasks)} questions from {url} written to {out} ("
          + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) + ")")
    return 0


def default_out(split: str) -> Path:
    """Where ``webresearch data deepresearcher`` writes a split by default.

    Example:
        >>> str(default_out("dev"))
        'data/deepresearcher_dev.jsonl'
    """
    return Path("data") / f"deepresearcher_{split}.jsonl"


def fetch_deepresearcher(url: str, out: Path, *, timeout_s: float = 60.0) -> list[Task]:
    """Download one split (Parquet) and write it to ``out`` as JSONL tasks.

    Each line is ``{"id", "dataset", "question", "answers"}``: the dataset name in lower
    case, the gold aliases that DeepResearcher joins with ``<|answer_split|>`` as a list.
    ``out`` is replaced only once the whole split has been read; a failed download or
    an unreadable file leaves it as it was.

    Args:
        url: The split's Parquet file (``DEEPRESEARCHER_URL`` for the release).
        out: The JSONL task file to write.
        timeout_s: Seconds for the download.

    Returns:
        The tasks written.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download-") as tmp:
        body = _download(url, timeout_s)
        if not (body.startswith(b"PAR1") and body.endswith(b"PAR1")):
            raise TaskError(f"Expects {url} to serve a Parquet file, actual: {len(body)} bytes "
                            f"starting {body[:16]!r}")
        parquet = Path(tmp) / "split.parquet"
        parquet.write_bytes(body)
        try:
            tasks = load_tasks(parquet)
        except TaskError as exc:
            raise TaskError(f"Expects {url} to hold DeepResearcher's questions as Parquet, "
                            f"actual: {exc}") from exc
        staged = Path(tmp) / "tasks.jsonl"
        with staged.open("w", encoding="utf-8") as f:
            for task in tasks:
                record = {"id": task.id, "dataset": task.dataset.lower(),
                          "question": task.question, "answers": list(task.answers)}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        staged.replace(out)
    return tasks


def _download(url: str, timeout_s: float) -> bytes:
    """The body at ``url`` (http or https, at most ``MAX_BYTES``), or a clear error."""
    with _opened(url, timeout_s, TaskError) as response:
        body: bytes = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise TaskError(f"Expects at most {MAX_BYTES} bytes from {url}, actual: more")
    return body


@contextmanager
def _opened(url: str, timeout_s: float, error: type[Exception]) -> Iterator[Any]:
    """The response at ``url``; a URL that is not http(s), an HTTP error or a network
    failure raises ``error`` saying which."""
    if not url.startswith(("http://", "https://")):
        raise error(f"Expects an http(s) URL, actual: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            yield response
    except urllib.error.HTTPError as exc:
        raise error(f"Expects {url} to serve the file, actual: HTTP {exc.code} "
                    f"{exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise error(f"Expects {url} to be reachable, actual: {reason}") from exc

def fetch_wiki18(url: str, out: Path, *, timeout_s: float = 60.0) -> int:
    """Download wiki-18 (gzipped, zipped or plain JSONL) and write it to ``out`` as a
    FlashRAG corpus; return the passages written.

    The download streams to a file beside ``out`` (never all in memory) and ``out`` is
    replaced only once every record converted; a failure leaves it as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download-") as tmp:
        packed = Path(tmp) / "download"
        _stream_to(url, packed, timeout_s)
        staged = Path(tmp) / "corpus.jsonl"
        with _records(packed) as lines, staged.open("w", encoding="utf-8") as f:
            count = convert_wiki18(lines, f)
        staged.replace(out)
    return count


def _stream_to(url: str, path: Path, timeout_s: float) -> None:
    with path.open("wb") as f, _opened(url, timeout_s, ConfigError) as response:
        size = 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
            if size > MAX_CORPUS_BYTES:
                raise ConfigError(f"Expects at most {MAX_CORPUS_BYTES} bytes from {url}, "
                                  "actual: more")
            f.write(chunk)

@contextmanager
def _records(path: Path) -> Iterator[IO[bytes]]:
    """The JSONL inside ``path``: gunzipped, the ``.jsonl`` member of a zip, or as it is."""
    with path.open("rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as g:
            yield g  # type: ignore[misc]
    elif magic == b"PK\x03\x04":
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.infolist() if m.filename.endswith(".jsonl")]
            if len(members) != 1:
                raise ConfigError(f"Expects one .jsonl file in the zip, actual: "
                                  f"{[m.filename for m in z.infolist()][:10]}")
            with z.open(members[0]) as member:
                yield member
    else:
        with path.open("rb") as plain:
            yield plain


def convert_wiki18(lines: IO[bytes], out: IO[str]) -> int:
    """Write each record of ``lines`` as FlashRAG's ``{"id", "contents"}`` (``contents``
    as it is; a ``title``/``text`` record as ``"title"\\ntext``); return the count.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> convert_wiki18(io.BytesIO(b'{"id": "0", "contents": "\\\\"Aaron\\\\"\\\\nProphet."}\\n'
        ...                           b'{"title": "Abel", "text": "A shepherd."}\\n'), out)
        2
        >>> out.getvalue().splitlines()[1]
        '{"id": "1", "contents": "\\\\"Abel\\\\"\\\\nA shepherd."}'
    """
    count = 0
    while line := lines.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES:
            raise ConfigError(f"Expects records of at most {MAX_LINE_BYTES} bytes, actual: "
                              f"record {count + 1} is longer")
        if not line.strip():
            continue
        record = _record(line, count)
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
        if out.tell() > MAX_CORPUS_BYTES:
            raise ConfigError(f"Expects a corpus of at most {MAX_CORPUS_BYTES} bytes, actual: "
                              "more")
    return count


def _record(line: bytes, row: int) -> dict[str, str]:
    """One record as ``{"id", "contents"}``: read as the corpus backend reads it (so a
    file that converts is one it serves), ``contents`` in FlashRAG's convention."""
    from webresearch.corpus.documents import parse_record  # noqa: PLC0415
    from webresearch.corpus.retrieval_api import flashrag_contents  # noqa: PLC0415

    doc = parse_record(line, row=row, name="wiki-18")
    return {"id": doc.id, "contents": flashrag_contents(doc.title, doc.text)}
