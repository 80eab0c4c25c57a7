"""A watcher that ends the Ray processes a driver started once that driver dies, however it dies.

A Ray started by ``ray.init()`` shares its driver's fate only in part: killed with
SIGKILL, the driver takes the GCS and the raylet with it (the kernel's parent-death
signal), but the raylet's agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``)
are orphaned and linger, the dashboard agent for a minute or more while it tries to
report to a GCS that is gone. So :func:`guard` marks the processes a driver starts
(an environment variable that they and their children inherit) and leaves a small
watcher behind, in a session of its own, holding the read end of a pipe whose write
end only the driver has; :func:`announce` tells it the Ray session's directory. When
the driver ends (exit, crash, SIGKILL) the kernel closes that end; the watcher reads
end-of-file, ends every process that carries the mark or holds a file of an announced
session open (SIGTERM, then SIGKILL after a grace period) and exits. Both are needed:
a process that renames itself (``setproctitle``: the agents do) overwrites the memory
``/proc/<pid>/environ`` shows, and every Ray process keeps its log files open.

The watcher runs this file as a script with the standard library only, so it imports
neither Ray nor the package. It finds the marked processes through ``/proc``; where
there is no ``/proc`` (macOS) it does nothing.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["MARK", "announce", "guard", "marked", "sweep"]

MARK = "WEBRESEARCH_RAY_OWNER"
"""The environment variable that marks the processes of a library-started Ray."""

_PROC = Path("/proc")



class _Watcher:
    """This process's watcher, once started, and the mark it sweeps."""

    process: subprocess.Popen[bytes] | None = None
    token = ""


def guard() -> tuple[str, str]:
    """Start this process's watcher (once) and return the mark its Ray processes carry.

    Returns:
        ``(name, value)``: put it in the environment of every process to be ended
        with this one (``init_ray`` does, around ``ray.init``), and only theirs.
    """
    if _Watcher.process is None or _Watcher.process.poll() is not None:
        _Watcher.token = f"{os.getpid()}-{secrets.token_hex(8)}"
        _Watcher.process = subprocess.Popen(
            [sys.executable, "-I", __file__, _Watcher.token], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return MARK, _Watcher.token


def announce(directory: str) -> None:
    """Tell this process's watcher that the processes holding files of ``directory``
    open (a Ray session's) are to end with this process too."""
    if _Watcher.process is not None and _Watcher.process.stdin is not None:
        _Watcher.process.stdin.write(directory.encode() + b"\n")
        _Watcher.process.stdin.flush()


def marked(token: str, directories: tuple[str, ...] = ()) -> list[int]:
    """The live processes whose environment carries ``token``'s mark or that hold a
    file under one of ``directories`` open.

    Example:
        >>> marked("no-such-token")
        []
    """
    needle = f"{MARK}={token}".encode()
    driver = token.partition("-")[0]  # the token starts with the driver's pid
    found = []
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if entry.name == driver:  # a driver still exiting (its pipe closed first) ends
            continue              # on its own: signalling it would change its exit status
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ.split(b"\0") or _holds(entry, directories):
            found.append(int(entry.name))
    return found


def _holds(process: Path, directories: tuple[str, ...]) -> bool:
    """Whether ``process`` holds a file under one of ``directories`` open."""
    if not directories:
        return False
    try:
        links = [str(fd.readlink()) for fd in (process / "fd").iterdir()]
    except OSError:
        return False
    return any(link.startswith(directories) for link in links)


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            continue


def sweep(token: str, directories: tuple[str, ...] = (), *, grace_s: float = 5.0) -> None:
    """End every process :func:`marked` finds: SIGTERM, then SIGKILL after ``grace_s``."""
    _signal(marked(token, directories), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while marked(token, directories) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal(marked(token, directories), signal.SIGKILL)


def _main(token: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the driver's
    # one directory a line, until the driver's end closes: it has ended
    directories = tuple(line.decode().strip() + "/" for line in sys.stdin.buffer)
    sweep(token, directories)


if __name__ == "__main__":
    _main(sys.argv[1])
