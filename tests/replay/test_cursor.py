"""The group cursor: readiness, deadlines, and a resumed cursor that resolves nothing twice."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.errors import WebResearchError
from webresearch.replay.cursor import CursorState, GroupCursor, GroupKey, ReadyGroup
from webresearch.replay.schema import EpisodeRecord, RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.tasks import Task

TASK = Task(id="t", question="Q?", answers=("a",))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def member(run_id: str, key: GroupKey, index: int, version: int = 0) -> EpisodeRecord:
    return EpisodeRecord(run_id, TASK, index, "answered", 1.0, 1.0, 1.0, policy_version=version,
                         episode_id=key.episode_id(index))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[ReplayStore, str]]:
    with ReplayStore(tmp_path) as s:
        yield s, s.create_run(RunRecord()).run_id


@given(st.from_regex(r"[0-9a-z]{1,12}", fullmatch=True), st.integers(0, 10**9),
       st.integers(0, 10**4))
def test_group_keys_round_trip(producer: str, number: int, index: int) -> None:
    key = GroupKey(producer, number)
    assert GroupKey.parse(key.episode_id(index)) == (key, index)


@pytest.mark.parametrize("episode_id", ["3f9c0d1e2b4a5c6d", "AB-g00000001-0", "a-g1", "a-gx-1"])
def test_other_ids_name_no_group(episode_id: str) -> None:
    assert GroupKey.parse(episode_id) is None


def test_a_bad_producer_is_refused() -> None:
    with pytest.raises(WebResearchError, match=re.escape("actual: 'a-b', 1")):
        GroupKey("a-b", 1)


def test_a_group_is_ready_when_complete_or_past_its_deadline(store: tuple[ReplayStore, str]
                                                             ) -> None:
    s, run = store
    clock = Clock()
    cursor = GroupCursor(s, run, group_size=3, deadline_s=10.0, clock=clock)
    full, partial = GroupKey("p", 0), GroupKey("p", 1)
    s.append([member(run, full, 0), member(run, partial, 0, version=0)])
    s.append([member(run, full, 2), member(run, full, 1), member(run, partial, 2)])
    s.append([member(run, GroupKey("q", 5), 0, version=1), member(run, GroupKey("q", 5), 3)])
    assert cursor.refresh() == 7 and cursor.foreign == 1  # no member 3 in a group of 3
    assert [g.key for g in cursor.ready()] == [full]
    assert cursor.ready()[0].episode_ids == tuple(full.episode_id(i) for i in range(3))
    clock.now = 10.0
    assert [(g.key, g.complete) for g in cursor.ready()] == [(full, True), (partial, False),
                                                             (GroupKey("q", 5), False)]
    assert [e.group for e in cursor.load(cursor.ready()[1])] == [0, 2]


def test_expired_groups_are_ready_at_once_and_later_ones_still_wait(
        store: tuple[ReplayStore, str]) -> None:
    """What a resumed run does with its dead producer's partial groups: they are ready as
    they are, without the deadline; the new producer's groups wait as before."""
    s, run = store
    cursor = GroupCursor(s, run, group_size=3, deadline_s=600.0, clock=Clock())
    dead, live = GroupKey("dead", 0), GroupKey("live", 0)
    s.append([member(run, dead, 0), member(run, dead, 2)])
    cursor.refresh()
    cursor.expire()
    s.append([member(run, live, 0)])
    cursor.refresh()
    assert [(g.key, g.complete, len(g.episode_ids)) for g in cursor.ready()] == [(dead, False, 2)]
    assert [g.key for g in cursor.pending()] == [dead, live]


def test_late_members_of_a_resolved_group_are_left_out(store: tuple[ReplayStore, str]) -> None:
    s, run = store
    clock = Clock()
    cursor = GroupCursor(s, run, group_size=2, deadline_s=1.0, clock=clock)
    key = GroupKey("p", 0)
    s.append([member(run, key, 0)])
    cursor.refresh()
    clock.now = 5.0
    (group,) = cursor.ready()
    cursor.resolve([group.key])
    s.append([member(run, key, 1)])
    cursor.refresh()
    assert cursor.pending() == []
    resumed = GroupCursor(s, run, group_size=2, deadline_s=1.0, state=cursor.state())
    resumed.refresh()
    assert resumed.pending() == []  # resolved incomplete: remembered across a restart


def test_foreign_episodes_are_counted_and_left_alone(store: tuple[ReplayStore, str]) -> None:
    s, run = store
    s.append([EpisodeRecord(run, TASK, 0, "answered", 1.0, 1.0, 1.0)])
    cursor = GroupCursor(s, run, group_size=1, deadline_s=1.0)
    cursor.refresh()
    assert (cursor.foreign, cursor.pending()) == (1, [])


def test_bad_arguments_are_refused(store: tuple[ReplayStore, str]) -> None:
    s, run = store
    with pytest.raises(WebResearchError, match=re.escape("actual: 0, 1.0")):
        GroupCursor(s, run, group_size=0, deadline_s=1.0)
    with pytest.raises(WebResearchError, match=re.escape("actual: 'other'")):
        GroupCursor(s, run, group_size=1, deadline_s=1.0, state=CursorState(run_id="other"))
    with pytest.raises(WebResearchError, match=re.escape("actual: 'p-g00000000'")):
        GroupCursor(s, run, group_size=1, deadline_s=1.0).resolve([GroupKey("p", 0)])
    with pytest.raises(WebResearchError, match=re.escape("version 1, actual: 7")):
        CursorState.from_json({"v": 7})


def snapshot(groups: list[ReadyGroup]) -> set[tuple[GroupKey, tuple[str, ...]]]:
    return {(g.key, g.episode_ids) for g in groups}


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_a_resumed_cursor_carries_on_exactly(data: st.DataObject) -> None:
    """Groups of any sizes, committed interleaved in any batches; a reader resolves ready
    groups at any points and stops anywhere: a cursor resumed from its state (on a
    reopened store) sees exactly the groups it had pending, and never a resolved one,
    even when more members arrive afterwards."""
    size = data.draw(st.integers(1, 4), label="group size")
    n = data.draw(st.integers(1, 8), label="groups")
    members = [(GroupKey("p", g), m) for g in range(n)
               for m in range(data.draw(st.integers(1, size)))]
    order = data.draw(st.permutations(members), label="commit order")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4), label="batches"))
    stop = data.draw(st.integers(0, len(cuts) + 1), label="stop after batch")
    with tempfile.TemporaryDirectory() as directory:
        with ReplayStore(directory) as s:
            run = s.create_run(RunRecord()).run_id
            clock = Clock()
            cursor = GroupCursor(s, run, group_size=size, deadline_s=1.0, clock=clock)
            resolved: set[GroupKey] = set()
            for i, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(order)], strict=True)):
                if i == stop:
                    break
                s.append([member(run, k, m) for k, m in order[start:end]])
                cursor.refresh()
                clock.now += data.draw(st.sampled_from([0.0, 2.0]), label="time passes")
                ready = cursor.ready()
                chosen = data.draw(st.lists(st.sampled_from(ready), unique_by=lambda g: g.key)
                                   if ready else st.just([]), label="resolved")
                cursor.resolve(g.key for g in chosen)
                resolved |= {g.key for g in chosen}
            state, pending = cursor.state(), snapshot(cursor.pending())
            written = s.count(run)
        with ReplayStore(directory) as s:
            resumed = GroupCursor(s, run, group_size=size, deadline_s=1.0,
                                  state=CursorState.from_json(state.to_json()))
            resumed.refresh()
            assert snapshot(resumed.pending()) == pending
            s.append([member(run, k, m) for k, m in order[written:]])  # late members too
            s.append([member(run, key, size) for key in resolved])  # past the group's size
            resumed.refresh()
            assert not {g.key for g in resumed.pending()} & resolved


def test_a_cursor_following_a_run_reads_each_episode_once_and_keeps_no_copy(
        store: tuple[ReplayStore, str]) -> None:
    """Memory flat over a long asynchronous run: each refresh reads only what is new, and the
    store object keeps no list of every summary (``summaries`` does, for listings)."""
    s, run = store
    cursor = GroupCursor(s, run, group_size=2, deadline_s=10.0, clock=Clock())
    for number in range(5):
        key = GroupKey("p", number)
        s.append([member(run, key, 0), member(run, key, 1)])
        assert cursor.refresh() == 2
    assert cursor.refresh() == 0
    assert len(cursor.ready()) == 5 and s._summaries == {}  # nothing cached per episode
