"""``webresearch data wiki18``: FlashRAG's wiki-18 fetched from a loopback server (gzipped as
Search-R1 hosts it, zipped as FlashRAG does, or plain), converted, and servable."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.cli.test_data import server  # noqa: F401 - the loopback file server fixture
from webresearch.cli import main
from webresearch.corpus.retrieval_api import IndexSpec

RECORDS = [  # wiki-18's shape: {"id", "contents"}, the title quoted on the first line
    {"id": "0", "contents": '"Aaron"\nAaron is a prophet, high priest, and the brother of Moses.'},
    {"id": "1", "contents": '"Aaron"\nAccording to the Book of Exodus, Aaron was a Levite.'},
    {"id": "2", "contents": '"Abel"\nAbel is the second son of Adam and Eve, a shepherd.'},
]
JSONL = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()


def zipped(name: str, body: bytes) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, body)
    return sink.getvalue()


@pytest.mark.parametrize("packed", [gzip.compress(JSONL), zipped("wiki18_100w.jsonl", JSONL),
                                    JSONL], ids=["search-r1-gz", "flashrag-zip", "plain"])
def test_wiki18_is_fetched_converted_and_servable(
        server: tuple[str, dict[str, bytes]], tmp_path: Path, packed: bytes,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    base, files = server
    files["wiki-18.jsonl.gz"] = packed
    out = tmp_path / "data" / "wiki-18.jsonl"
    assert main(["data", "wiki18", "--url", f"{base}/wiki-18.jsonl.gz", "--out", str(out)]) == 0
    assert "3 passages" in capsys.readouterr().out
    assert [json.loads(line) for line in out.read_text().splitlines()] == RECORDS
    searcher = IndexSpec(corpus=str(out)).open()
    try:
        (best, *_), = searcher.search_many(["brother of Moses"], 3)
        assert (best.id, best.contents) == ("0", RECORDS[0]["contents"])
    finally:
        searcher.close()


@pytest.mark.parametrize(("body", "error"), [
    (None, "HTTP 404"),
    (gzip.compress(b'{"id": "0", "contents": "ok"}\nnot json\n'), "record 2 is not JSON"),
    (b'{"id": "0", "body": "no contents"}\n', "expects a 'contents' field"),
    (zipped("readme.txt", b"nothing"), "one .jsonl file in the zip"),
    (b'{"id": "0", "contents": "' + b"a" * (1 << 20) + b'"}\n', "at most 1048576 bytes"),
], ids=["missing", "not-json", "no-contents", "zip-without-jsonl", "huge-record"])
def test_a_bad_download_is_a_clear_error_and_keeps_the_old_file(
        server: tuple[str, dict[str, bytes]], tmp_path: Path, body: bytes | None,  # noqa: F811
        error: str, capsys: pytest.CaptureFixture[str]) -> None:
    base, files = server
    if body is not None:
        files["wiki.jsonl.gz"] = body
    out = tmp_path / "wiki-18.jsonl"
    out.write_text("old\n")
    assert main(["data", "wiki18", "--url", f"{base}/wiki.jsonl.gz", "--out", str(out)]) == 2
    assert error in capsys.readouterr().err
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["wiki-18.jsonl"]  # no download left behind
