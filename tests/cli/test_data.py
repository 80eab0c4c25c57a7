"""``webresearch data``: DeepResearcher's split fetched from a loopback server and converted."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from webresearch.cli import main
from webresearch.tasks import load_tasks

ROWS = [  # verl's layout, as in GAIR-NLP/DeepResearcher's data/dev.parquet
    {"data_source": "Bamboogle", "ability": "search & question answering",
     "prompt": [{"content": "Who founded Pogre Works?", "role": "user"}],
     "reward_model": {"ground_truth": "Anna Vell<|answer_split|>A. Vell", "style": "rule"},
     "extra_info": {"index": "bamboogle_0", "split": "dev"}},
    {"data_source": "nq", "ability": "search & question answering",
     "prompt": [{"content": "Where is Tarsk?", "role": "user"}],
     "reward_model": {"ground_truth": "on the Velm", "style": "rule"},
     "extra_info": {"index": "nq_7", "split": "dev"}},
]


def parquet_bytes(rows: list[dict[str, object]]) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback HTTP server answering GET /<name> from a dict (404 for anything else)."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.lstrip("/"))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=30)


def test_a_split_becomes_a_task_file(server: tuple[str, dict[str, bytes]], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    base, files = server
    files["dev.parquet"] = parquet_bytes(ROWS)
    out = tmp_path / "data" / "dev.jsonl"
    assert main(["data", "deepresearcher", "--url", f"{base}/dev.parquet", "--out",
                 str(out)]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"id": "bamboogle_0", "dataset": "bamboogle", "question": "Who founded Pogre Works?",
         "answers": ["Anna Vell", "A. Vell"]},
        {"id": "nq_7", "dataset": "nq", "question": "Where is Tarsk?", "answers": ["on the Velm"]}]
    assert "2 questions from" in capsys.readouterr().out
    assert [t.id for t in load_tasks(out)] == ["bamboogle_0", "nq_7"]  # a task file as is
    assert sorted(p.name for p in out.parent.iterdir()) == ["dev.jsonl"]  # no temporary left


@pytest.mark.parametrize(("name", "body", "error"), [
    ("missing.parquet", None, "HTTP 404"),
    ("page.parquet", b"<html>not parquet</html>", "to serve a Parquet file, actual: 24 bytes"),
    ("other.parquet", "other", "to hold DeepResearcher's questions"),
], ids=["404", "not-parquet", "other-parquet"])
def test_a_failed_fetch_is_one_clear_line_and_keeps_the_old_file(
        server: tuple[str, dict[str, bytes]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], name: str, body: bytes | str | None,
        error: str) -> None:
    pytest.importorskip("pyarrow")
    base, files = server
    if body == "other":  # Parquet, but not tasks: no question in any layout
        body = parquet_bytes([{"title": "Pogre Works", "text": "A foundry."}])
    if body is not None:
        files[name] = body  # type: ignore[assignment]
    out = tmp_path / "dev.jsonl"
    out.write_text("kept\n")
    assert main(["data", "deepresearcher", "--url", f"{base}/{name}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert re.match(r"webresearch: error: Expects http://127\.0\.0\.1:\d+/", err), err
    assert error in err and len(err.splitlines()) == 1
    assert out.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.jsonl"]


def test_an_unreachable_server_and_a_bad_url_are_clear_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dev.jsonl"
    assert main(["data", "deepresearcher", "--url", "http://127.0.0.1:9/x.parquet", "--out",
                 str(out), "--timeout", "30"]) == 2
    assert "to be reachable, actual:" in capsys.readouterr().err
    assert main(["data", "deepresearcher", "--url", "file:///etc/passwd", "--out",
                 str(out)]) == 2
    assert "Expects an http(s) URL, actual: 'file:///etc/passwd'" in capsys.readouterr().err
    assert not out.exists()
