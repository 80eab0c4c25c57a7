"""The store: queries, no duplicates, many writer processes, readers during writes, SIGKILL."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PYTHONPATH
from tests.replay.conftest import episode
from webresearch.errors import ConfigError, WebResearchError
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.tasks import Task


def test_runs_queries_groups_and_batches(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord(policy="p"))
        other = Task(id="t2", question="Q2", answers=("b",), dataset="nq")
        eps = [episode(run.run_id, group=g, reward=g / 4) for g in range(4)]
        eps += [episode(run.run_id, task=other, status="truncated", reward=-1.0)]
        assert store.append(eps) == 5
        assert store.append(eps[:2]) == 0  # the same episodes again: skipped
        assert store.count(run.run_id) == 5 and len(store) == 5
        assert [e.group for e in store.episodes(run.run_id, task_id="t1")] == [0, 1, 2, 3]
        assert len(list(store.episodes(run.run_id, min_reward=0.5))) == 2
        assert [e.status for e in store.episodes(run.run_id, dataset="nq")] == ["truncated"]
        assert len(list(store.episodes(status="truncated", max_reward=-1.0))) == 1
        assert {k: len(v) for k, v in store.groups(run.run_id).items()} == {"t1": 4, "t2": 1}
        assert [len(b) for b in store.batches(run.run_id, 2)] == [2, 2, 1]
        with pytest.raises(ConfigError, match="size >= 1"):
            next(store.batches(run.run_id, 0))
        assert store.episode(eps[2].episode_id) == eps[2]
        assert [r.run_id for r in store.runs()] == [run.run_id]


def test_shared_web_contents_are_stored_once(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        runs = [store.create_run(RunRecord()) for _ in range(2)]
        originals = [episode(r.run_id, group=g) for r in runs for g in range(3)]
        for e in originals:  # one transaction each: later ones find the contents stored
            store.append([e])
        blobs = [k for k in store._cache.iterkeys() if str(k).startswith("blob/")]
        assert len(blobs) == 2  # one page, one search, for six episodes
    with ReplayStore(tmp_path) as fresh:  # a new reader resolves them all
        assert sorted(fresh.episodes(), key=lambda e: e.episode_id) == sorted(
            originals, key=lambda e: e.episode_id)


def test_clear_errors(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
        with pytest.raises(WebResearchError, match="Expects a new run id"):
            store.create_run(run)
        with pytest.raises(WebResearchError, match="Expects a run of this store"):
            store.run("nope")
        with pytest.raises(WebResearchError, match="Expects an episode of this store"):
            store.episode("nope")


def test_readable_while_written(tmp_path: Path) -> None:
    writer, reader = ReplayStore(tmp_path), ReplayStore(tmp_path)
    run = writer.create_run(RunRecord())
    seen = []
    for i in range(5):
        writer.append([episode(run.run_id, group=i)])
        seen.append(len(reader.summaries(run.run_id)))
    assert seen == [1, 2, 3, 4, 5]
    writer.close()
    reader.close()


def _write(directory: str, run_id: str, worker: int, n: int) -> None:
    with ReplayStore(directory) as store:
        for i in range(n):
            store.append([episode(run_id, group=worker * 1000 + i)])


def test_many_writer_processes(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write, args=(str(tmp_path), run.run_id, w, 150))
               for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    with ReplayStore(tmp_path) as store:
        groups = sorted(e.group for e in store.episodes(run.run_id))
    assert groups == sorted(w * 1000 + i for w in range(3) for i in range(150))


WRITER = """
import sys, random
from tests.replay.conftest import episode
from webresearch.replay.store import ReplayStore
store = ReplayStore(sys.argv[1])
rng = random.Random(int(sys.argv[3]))
while True:
    e = episode(sys.argv[2], size=rng.randrange(10, 200_000))
    store.append([e])
    print(e.episode_id, flush=True)
"""


def test_sigkill_loses_only_the_episode_in_flight(tmp_path: Path) -> None:
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
    committed: list[str] = []
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    for round_ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), run.run_id,
                                 str(round_)], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # writing has begun (however slow the start was)
        time.sleep(0.05 * round_)  # then kill it at some point of its loop
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        committed += (first + proc.stdout.read()).split()  # through the buffer readline filled
        proc.stdout.close()
        with ReplayStore(tmp_path) as store:  # opens after every kill
            stored = [e.episode_id for e in store.episodes(run.run_id)]  # every one decodes
            # episodes() skips a damaged record: nothing may have been skipped, and every
            # sequence number the run counts is an episode that reads back
            assert not store.damaged, list(store.damaged.values())
            assert len(stored) == store.count(run.run_id)
            assert [store.episode(i).episode_id for i in stored] == stored  # ids index them
        assert set(committed) <= set(stored)  # every completed episode is intact
        assert len(stored) - len(committed) <= round_ + 1  # at most one in flight per kill
        assert len(set(stored)) == len(stored)
    assert len(committed) >= 8


KILLED_AT_EACH_STATEMENT = """
import itertools, os, signal, sys
from tests.replay.conftest import episode
from webresearch.replay.store import ReplayStore
for statement in range(int(sys.argv[3])):
    pid = os.fork()
    if pid == 0:  # a writer that kills itself as its SQL statement number `statement` starts
        store = ReplayStore(sys.argv[1])
        count = itertools.count()
        def trace(sql, count=count, statement=statement):
            if next(count) == statement:
                os.kill(os.getpid(), signal.SIGKILL)
        store._cache._con.set_trace_callback(trace)
        for group in range(2):
            e = episode(sys.argv[2], group=statement * 10 + group, size=statement * 997)
            store.append([e])
            print(e.episode_id, flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
"""


def test_a_writer_killed_at_any_statement_of_a_write_leaves_nothing_damaged(
        tmp_path: Path) -> None:
    """Every boundary between two SQL statements of a write (between two transactions
    too, if a write were ever split) is a kill point; nothing read back may be damaged."""
    with ReplayStore(tmp_path) as store:
        run = store.create_run(RunRecord())
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_AT_EACH_STATEMENT, str(tmp_path),
                             run.run_id, "80"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    committed = out.split()
    with ReplayStore(tmp_path) as store:
        stored = [e.episode_id for e in store.episodes(run.run_id)]
        assert not store.damaged, list(store.damaged.values())
        assert len(stored) == store.count(run.run_id) == len(set(stored))
        assert [store.episode(i).episode_id for i in stored] == stored
    assert set(committed) <= set(stored) and len(stored) - len(committed) <= 80
    assert len(committed) > 40  # the later kill points let whole writes finish
