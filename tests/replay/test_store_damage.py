"""A damaged, hostile or locked store: clear errors naming the record, the rest still readable."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import pickle
import re
import shutil
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.replay.conftest import episode, write_lock_held
from webresearch.cli import main
from webresearch.errors import StoreBusy, StoreError, WebResearchError
from webresearch.replay.export import export_store
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.writer import EpisodeWriter
from webresearch.tasks import Task

RUNS, PER_RUN = 3, 3


def _build(directory: Path) -> dict[str, list[str]]:
    """A store of RUNS runs with PER_RUN episodes each; episode ids by run id."""
    ids: dict[str, list[str]] = {}
    with ReplayStore(directory) as store:
        for r in range(RUNS):
            run = store.create_run(RunRecord(policy=f"p{r}"))
            task = Task(id=f"t{r}", question=f"Q{r}?", answers=("a",), dataset="sim")
            eps = [episode(run.run_id, group=g, task=task, size=50 + r) for g in range(PER_RUN)]
            store.append(eps)
            ids[run.run_id] = [e.episode_id for e in eps]
    return ids


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    directory = tmp_path_factory.mktemp("pristine") / "store"
    return directory, _build(directory)


@contextlib.contextmanager
def copy_of(pristine: tuple[Path, dict[str, list[str]]]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "store"
        shutil.copytree(pristine[0], target)
        yield target


def _keys(store: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(store / "cache.db")) as con:
        return sorted(k for (k,) in con.execute("SELECT key FROM Cache"))


def _corrupt(store: Path, key: str, kind: str, payload: object) -> None:
    """Replace ``key``'s value with ``payload`` stored as ``kind`` (or delete the row)."""
    with contextlib.closing(sqlite3.connect(store / "cache.db")) as con, con:
        if kind == "delete":
            con.execute("DELETE FROM Cache WHERE key = ?", (key,))
            return
        encodings = {
            "raw": lambda: (1, payload),
            "pickle": lambda: (4, pickle.dumps(payload)),
            "json": lambda: (1, zlib.compress(json.dumps(payload).encode())),
            "json-text": lambda: (1, json.dumps(payload)),
        }
        mode, value = encodings[kind]()
        con.execute("UPDATE Cache SET mode = ?, value = ? WHERE key = ?", (mode, value, key))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
GARBAGE = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=64) | st.text(max_size=64) | st.integers(
        min_value=-2**63, max_value=2**63 - 1) | st.floats()),
    st.tuples(st.sampled_from(["json", "json-text"]), JSON),
    st.tuples(st.just("pickle"), JSON),
    st.tuples(st.just("delete"), st.none()))


def _survivors(ids: dict[str, list[str]], keys: list[str], touched: set[str]
               ) -> set[str] | None:
    """Episode ids that no damage reaches (``None`` when a run counter was touched: a
    counter rewritten to another valid count cannot be told from the truth)."""
    if any(k.startswith(("runs#", "eps#", "store#")) for k in touched):
        return None
    alive = set()
    for index, (run_id, episode_ids) in enumerate(ids.items()):
        if {f"run/{run_id}", f"runs/{index:08d}"} & touched:
            continue
        for seq, episode_id in enumerate(episode_ids):
            if not {f"ep/{run_id}/{seq:010d}", f"meta/{run_id}/{seq:010d}"} & touched:
                alive.add(episode_id)
    if any(k.startswith("blob/") for k in touched):  # shared content: all may lose it
        return set()
    return alive


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_damaged_records_leave_the_rest_readable(
        pristine: tuple[Path, dict[str, list[str]]], data: st.DataObject) -> None:
    ids = pristine[1]
    with copy_of(pristine) as path:
        keys = _keys(path)
        touched = data.draw(st.sets(st.sampled_from(keys), min_size=1, max_size=4))
        for key in touched:
            _corrupt(path, key, *data.draw(GARBAGE))
        exported: set[str] = set()
        try:
            with ReplayStore(path, create=False) as store:
                export_store(store, path.parent / "out.jsonl")
                with (path.parent / "out.jsonl").open() as lines:
                    exported = {r["episode_id"] for r in map(json.loads, lines)
                                if r["type"] == "episode"}
                for run in store.runs():
                    for summary in store.summaries(run.run_id):
                        with contextlib.suppress(WebResearchError):  # damaged, or index lost
                            store.episode(summary["episode_id"])
                named = set(store.damaged)
        except StoreError as exc:  # only a damaged counter may stop a whole listing
            assert any(k.startswith(("runs#", "eps#", "store#")) for k in touched), exc
            return
    alive = _survivors(ids, keys, touched)
    if alive is not None:
        pointers = {f"runs/{i:08d}" for i, run_id in enumerate(ids) if f"run/{run_id}" in touched}
        assert named <= touched | pointers | {k for k in keys if k.startswith("ep/")}
        assert alive <= exported


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=16)),
                      min_size=1, max_size=6), cut=st.none() | st.floats(0, 1))
@example(edits=[(1 / 16, b"\x80")], cut=None)  # a non-UTF-8 byte in the schema text
def test_a_garbled_database_file_is_only_ever_a_store_error(
        pristine: tuple[Path, dict[str, list[str]]], edits: list[tuple[float, bytes]],
        cut: float | None) -> None:
    with copy_of(pristine) as path:
        database = path / "cache.db"
        raw = bytearray(database.read_bytes())
        for where, junk in edits:
            at = int(where * (len(raw) - 1))
            raw[at:at + len(junk)] = junk
        database.write_bytes(bytes(raw[: int(cut * len(raw))] if cut is not None else raw))
        with contextlib.suppress(StoreError), ReplayStore(path, create=False) as store:
            export_store(store, path.parent / "out.jsonl")
            for run in store.runs():
                list(store.episodes(run.run_id))


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def test_one_bad_meta_row_names_itself_and_every_run_is_still_listed(
        pristine: tuple[Path, dict[str, list[str]]]) -> None:
    ids = pristine[1]
    middle = list(ids)[1]
    with copy_of(pristine) as path:
        _corrupt(path, f"meta/{middle}/0000000001", "json-text", {"reward": "high"})
        status, out, err = _cli("replay", "runs", str(path))
        assert status == 1 and [line.split()[0] for line in out.splitlines()] == list(ids)
        assert err == (f"webresearch: error: Expects a readable record "
                       f"'meta/{middle}/0000000001' in the replay store {str(path)!r}, actual: "
                       f"expects episode_id of type str, actual: NoneType; skipped\n")
        status, out, _ = _cli("replay", "export", str(path), "--out", str(path.parent / "x.jsonl"))
        assert status == 1 and out.startswith(f"{RUNS * PER_RUN - 1} episodes")


def test_a_pickled_run_record_is_named_and_never_unpickled(
        pristine: tuple[Path, dict[str, list[str]]]) -> None:
    first = next(iter(pristine[1]))
    with copy_of(pristine) as path:
        _corrupt(path, f"run/{first}", "pickle", {"run_id": first})
        status, out, err = _cli("replay", "runs", str(path))
        assert status == 1 and len(out.splitlines()) == RUNS - 1
        assert re.search(re.escape(f"'run/{first}'") + ".*a pickled value, which is not a "
                         "webresearch store value", err)


def test_a_damaged_episode_is_a_one_line_error(
        pristine: tuple[Path, dict[str, list[str]]]) -> None:
    run_id, episode_ids = next(iter(pristine[1].items()))
    with copy_of(pristine) as path:
        _corrupt(path, f"ep/{run_id}/0000000000", "raw", b"\x78\x9c garbled")
        status, _, err = _cli("replay", "show", str(path), episode_ids[0])
        assert status == 2 and err.count("\n") == 1
        assert f"'ep/{run_id}/0000000000'" in err and "not zlib data" in err


@pytest.mark.parametrize("verb", [["runs"], ["episodes"], ["show", "e"], ["export", "--out", "x"],
                                  ["rescore", "--run", "r", "--reward", "em"]],
                         ids=lambda v: v[0])
def test_a_missing_store_is_an_error_for_every_read_command(
        pristine: tuple[Path, dict[str, list[str]]], tmp_path: Path, verb: list[str]) -> None:
    shutil.copytree(pristine[0], tmp_path / "store")
    status, _, err = _cli("replay", verb[0], str(tmp_path / "stor"), *verb[1:])
    assert status == 2 and f"no such directory. Did you mean {str(tmp_path / 'store')!r}?" in err
    assert not (tmp_path / "stor").exists()


def test_an_unknown_run_is_an_error(pristine: tuple[Path, dict[str, list[str]]]) -> None:
    first = next(iter(pristine[1]))
    with copy_of(pristine) as path:
        status, _, err = _cli("replay", "episodes", str(path), "--run", first[:-1] + "?")
        assert status == 2 and f"Did you mean {first!r}?" in err


def test_a_failed_export_leaves_no_file(pristine: tuple[Path, dict[str, list[str]]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(self: ReplayStore, run_id: str | None = None, **_: object) -> Iterator[object]:
        yield from list(original(self, run_id))[:1]
        raise OSError(28, "No space left on device")

    original = ReplayStore.episodes
    with copy_of(pristine) as path:
        target = path.parent / "out.jsonl"
        target.write_text("the previous export\n")
        monkeypatch.setattr(ReplayStore, "episodes", failing)
        with (ReplayStore(path, create=False) as store,
              pytest.raises(StoreError, match="No space left on device")):
            export_store(store, target)
        assert target.read_text() == "the previous export\n"
        assert sorted(p.name for p in path.parent.iterdir()) == ["out.jsonl", "store"]


def test_a_held_write_lock_is_a_bounded_reported_error(tmp_path: Path) -> None:
    store = ReplayStore(tmp_path, timeout_s=0.3)
    run = store.create_run(RunRecord())
    message = re.escape(f"Expects the replay store at {str(tmp_path / 'cache.db')!r} to be "
                        "free within 0.3 s, actual: another process held its write lock")
    with write_lock_held(tmp_path / "cache.db"):
        with pytest.raises(StoreBusy, match=message):
            store.append([episode(run.run_id)])
        with pytest.raises(StoreBusy, match=message):
            store.create_run(RunRecord())
        with pytest.raises(StoreBusy, match=message):
            asyncio.run(EpisodeWriter(store).write(episode(run.run_id)))
        assert [r.run_id for r in store.runs()] == [run.run_id]  # reads go on
    assert store.append([episode(run.run_id)]) == 1
    store.close()
