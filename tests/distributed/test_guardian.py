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


def children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (zombies excluded)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[0] != "Z":
            tree.setdefault(int(stat[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds processes through /proc")
def test_a_killed_driver_leaves_no_ray_process_behind(tmp_path: Path) -> None:
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT})
    tokens: set[str] = set()
    try:
        assert driver.stdout is not None
        assert driver.stdout.readline(), "the driver did not start Ray"
        started = children(driver.pid)
        tokens = tokens_of(driver.pid)
        assert len(tokens) == 1
        token = next(iter(tokens))
        ray_processes = set(marked(token))
        # the GCS, the raylet, its agents, the worker: all carry the mark, the watcher not
        unmarked = [p for p in started if p not in ray_processes and not _is_watcher(p)]
        assert unmarked == [], [_cmdline(p) for p in unmarked]
        assert len(ray_processes) >= 4
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
        deadline = time.monotonic() + 30  # unguarded, the dashboard agent outlives a minute
        while marked(token) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marked(token) == [], "Ray processes outlived their driver"
    finally:
        driver.kill()
        driver.wait(timeout=60)
        driver.stdout.close()  # type: ignore[union-attr]
        for token in tokens:
            sweep(token, grace_s=1.0)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return ""


def _is_watcher(pid: int) -> bool:
    return "guardian.py" in _cmdline(pid)
