"""Folders a store does not own: read-only stores read, foreign ones untouched, exports safe."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import diskcache
import pytest

from tests.replay.conftest import episode
from webresearch.cli import main
from webresearch.errors import StoreError
from webresearch.replay import export as export_module
from webresearch.replay.export import export_store
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore

READ_COMMANDS = [["replay", "runs"], ["replay", "episodes"], ["replay", "show", "x"],
                 ["replay", "export", "--out", "{out}"], ["replay", "rescore", "--run", "r",
                                                           "--reward", "f1"]]


def _store(directory: Path) -> tuple[str, str]:
    with ReplayStore(directory) as store:
        run = store.create_run(RunRecord())
        first = episode(run.run_id)
        store.append([first, episode(run.run_id, group=1, status="timeout")])
    return run.run_id, first.episode_id


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ---- a folder that is not a store --------------------------------------------------

def _foreign(folder: Path, kind: str) -> None:
    folder.mkdir()
    if kind == "sqlite":
        with sqlite3.connect(folder / "cache.db") as con:
            con.execute("CREATE TABLE notes (body TEXT)")
            con.execute("INSERT INTO notes VALUES ('mine')")
        con.close()
    elif kind == "diskcache":
        with diskcache.Cache(str(folder)) as cache:
            cache.set("page", "another program's value")
    else:
        (folder / "cache.db").write_bytes(b"not a database at all" * 10)


@pytest.mark.parametrize("kind", ["sqlite", "diskcache", "text"])
@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_a_read_command_leaves_a_foreign_folder_byte_for_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, command: list[str]) -> None:
    folder = tmp_path / "foreign"
    _foreign(folder, kind)
    before = _fingerprint(folder)
    argv = [c.format(out=tmp_path / "out.jsonl") for c in command]
    assert main([*argv[:2], str(folder), *argv[2:]]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(folder) in err
    assert _fingerprint(folder) == before


def test_view_and_import_leave_a_foreign_folder_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    _foreign(folder, "sqlite")
    before = _fingerprint(folder)
    with pytest.raises(StoreError, match="another program's database"):
        ReplayStore(folder)  # a writer refuses it too, before writing
    assert main(["replay", "import", str(folder), str(tmp_path / "none.jsonl")]) == 2
    assert main(["view", str(folder), "--port", "1"]) == 2
    assert _fingerprint(folder) == before


def test_a_reader_changes_no_record_of_a_store(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite may leave an empty write-ahead log and its index beside a store it read."""
    _, episode_id = _store(tmp_path / "store")
    before = _fingerprint(tmp_path / "store")
    for argv in (["replay", "runs"], ["replay", "episodes"], ["replay", "show", episode_id]):
        assert main([*argv[:2], str(tmp_path / "store"), *argv[2:]]) == 0
    after = _fingerprint(tmp_path / "store")
    assert after["cache.db"] == before["cache.db"]
    assert after.get("cache.db-wal", EMPTY) == EMPTY and set(after) <= {*before, "cache.db-wal",
                                                                          "cache.db-shm"}
    assert "timeout" in capsys.readouterr().out


EMPTY = hashlib.sha256(b"").hexdigest()


# ---- a store this user cannot write -------------------------------------------------

def _unwritable(folder: Path, on: bool) -> None:
    """Make ``folder`` and its files unwritable, root included (``chattr +i``), or undo it."""
    paths = [*folder.iterdir(), folder]
    if os.geteuid() != 0:  # chmod binds every other user
        for path in paths:
            path.chmod((0o555 if path.is_dir() else 0o444) if on else
                       (0o755 if path.is_dir() else 0o644))
        return
    chattr = shutil.which("chattr")
    result = (subprocess.run([chattr, "+i" if on else "-i", *map(str, paths)],
                             capture_output=True, text=True, timeout=60, check=False)
              if chattr else None)
    if on and (result is None or result.returncode != 0):
        pytest.skip("running as root, where chmod does not stop writes, and chattr +i fails "
                    "here")


def test_a_read_only_store_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "store"
    _, episode_id = _store(folder)
    before = _fingerprint(folder)
    _unwritable(folder, True)
    try:
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")  # really unwritable
        with ReplayStore(folder, create=False) as store:
            assert len(list(store.episodes())) == 2 and not store.damaged
        assert main(["replay", "show", str(folder), episode_id]) == 0
        assert main(["replay", "episodes", str(folder)]) == 0
        assert "2 episodes" in capsys.readouterr().out
    finally:
        _unwritable(folder, False)
    assert _fingerprint(folder) == before


# ---- export targets ----------------------------------------------------------------

def test_export_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    _store(tmp_path / "store")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out.jsonl"
    for name in [f".{out.name}.{pid}.tmp" for pid in range(os.getpid() - 5, os.getpid() + 5)] + [
            f".{out.name}.tmp", f"{out.name}.tmp", f".{out.name}"]:
        (tmp_path / name).symlink_to(victim)
    with ReplayStore(tmp_path / "store", create=False) as store:
        assert export_store(store, out) == 2
    assert victim.read_text() == "precious" and not out.is_symlink()
    assert out.stat().st_mode & 0o777 == 0o644


def test_export_over_a_symlink_replaces_the_link_not_its_target(tmp_path: Path) -> None:
    _store(tmp_path / "store")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "out.jsonl").symlink_to(victim)
    with ReplayStore(tmp_path / "store", create=False) as store:
        export_store(store, tmp_path / "out.jsonl")
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("target", ["missing/out.jsonl", "folder", "file/out.jsonl"])
def test_a_bad_export_target_is_one_line_naming_it(tmp_path: Path, target: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path / "store")
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    out = tmp_path / target
    assert main(["replay", "export", str(tmp_path / "store"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert repr(str(out)) in err or repr(str(out.parent)) in err


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _store(tmp_path / "store")

    def full(*_: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export_module, "_write_jsonl", full)
    out = tmp_path / "out.jsonl"
    assert main(["replay", "export", str(tmp_path / "store"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"webresearch: error: Expects to write {str(out)!r}, actual: "
                   f"{os.strerror(errno.ENOSPC)}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
