"""``webresearch serve-corpus`` with several worker processes on one port: it answers
Search-R1's requests from every worker, replaces a worker that dies, and leaves no
process behind when stopped or killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.corpus.test_corpus import write_corpus
from tests.test_cli import _read_line

DEADLINE_S = 120.0
"""A safety net for waits on a busy machine, never a pace."""

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreading")


def get_json(url: str, body: object | None = None) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        found: dict[str, object] = json.loads(response.read())
        return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie (exited, not yet reaped) is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        time.sleep(0.05)


def worker_pids(base: str, connections: int = 40, *, tolerate: bool = False) -> set[int]:
    """The pids that answer ``connections`` fresh connections (the kernel spreads them);
    with ``tolerate``, connections that fail (queued at a worker just killed) are skipped."""
    pids = set()
    for _ in range(connections):
        try:
            pids.add(int(get_json(f"{base}/health")["pid"]))  # type: ignore[call-overload]
        except OSError:
            if not tolerate:
                raise
    return pids


@contextlib.contextmanager
def serving(corpus: Path, workers: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([sys.executable, "-m", "webresearch.cli", "serve-corpus",
                             str(corpus), "--port", "0", "--workers", str(workers)],
                            stdout=subprocess.PIPE, text=True)
    seen: set[int] = set()
    try:
        url = _read_line(proc, "serving at", DEADLINE_S).split()[2]
        yield proc, url
    finally:
        proc.kill()
        proc.communicate(timeout=DEADLINE_S)
        for pid in seen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "mini.jsonl")


def test_workers_share_the_port_and_stop_with_the_server(corpus: Path) -> None:
    with serving(corpus, workers=2) as (proc, url):
        assert url.endswith("/retrieve")
        base = url.removesuffix("/retrieve")
        answer = get_json(url, {"queries": ["Pogre Works founder"], "topk": 1,
                                "return_scores": True})
        assert answer["result"][0][0]["document"]["id"] == "0"  # type: ignore[index]
        pids = worker_pids(base)
        assert len(pids) == 2 and proc.pid not in pids
        try:
            victim = min(pids)
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: len(worker_pids(base, tolerate=True) - {victim}) == 2,
                       "a worker replaced")
            survivors = worker_pids(base)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=DEADLINE_S) == 0
            wait_until(lambda: not any(alive(pid) for pid in survivors), "workers stopped")
        finally:
            for pid in pids | locals().get("survivors", set()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_workers_of_a_killed_server_stop_by_themselves(corpus: Path) -> None:
    with serving(corpus, workers=2) as (proc, url):
        pids = worker_pids(url.removesuffix("/retrieve"))
        try:
            proc.kill()
            proc.wait(timeout=DEADLINE_S)
            wait_until(lambda: not any(alive(pid) for pid in pids), "orphaned workers stopped")
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
