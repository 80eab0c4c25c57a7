"""A Ray that the library started does not outlive its driver, even one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import webresearch
from webresearch.distributed.guardian import MARK, marked, sweep

pytestmark = pytest.mark.ray
pytest.importorskip("ray")

ROOT = str(Path(webresearch.__file__).resolve().parents[1])

DRIVER = textwrap.dedent("""
    import os, sys, time
    from webresearch.distributed import init_ray
    ray = init_ray(num_cpus=1)

    @ray.remote
    def pid() -> int:
        return os.getpid()

    ray.get(pid.remote())  # a worker process too
    print(ray.get_runtime_context().get_node_id(), flush=True)
    time.sleep(600)
""")


def tokens_of(pid: int) -> set[str]:
    """The marks in the environments of every live process, by the driver they name."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(f"{MARK}={pid}-".encode()):
                found.add(item.decode().split("=", 1)[1])
    return found


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat``'s fields after the command name (state first), or ``None``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> dict[int, str]:
    """Every live descendant of ``pid`` (zombies excluded), with its start time."""
    tree: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat[0] != "Z":
            tree.setdefault(int(stat[1]), []).append(int(entry.name))
            starts[int(entry.name)] = stat[19]
    out, todo = {}, [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def alive(processes: dict[int, str]) -> list[int]:
    """Those of ``processes`` (pid: start time) still running: not gone, not a zombie."""
    out = []
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and stat[19] == start:
            out.append(pid)
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds processes through /proc")
def test_a_killed_driver_leaves_no_ray_process_behind(tmp_path: Path) -> None:
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT})
    tokens: set[str] = set()
    started: dict[int, str] = {}
    try:
        assert driver.stdout is not None
        assert driver.stdout.readline(), "the driver did not start Ray"
        started = {p: t for p, t in children(driver.pid).items() if not _is_watcher(p)}
        tokens = tokens_of(driver.pid)
        assert len(tokens) == 1
        token = next(iter(tokens))
        # the GCS, the raylet, its agents, the worker carry the mark
        assert len(marked(token)) >= 4
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
        deadline = time.monotonic() + 30  # unguarded, the dashboard agent outlives a minute
        while (marked(token) or alive(started)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marked(token) == [], "Ray processes outlived their driver"
        assert alive(started) == [], [_cmdline(p) for p in alive(started)]
    finally:
        driver.kill()
        driver.wait(timeout=60)
        driver.stdout.close()  # type: ignore[union-attr]
        for token in tokens:
            sweep(token, grace_s=1.0)
        for pid in alive(started):  # an unmarked leftover, should one fail the test
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return ""


def _is_watcher(pid: int) -> bool:
    return "guardian.py" in _cmdline(pid)
