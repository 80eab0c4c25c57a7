"""An asynchronous run's GRPO groups, read from the store as they complete; a resumable cursor.

Producers record each group's episodes under ids that name the group
(:class:`GroupKey`); a :class:`GroupCursor` reads the run's new summaries
incrementally, collects them into groups, and says which are ready: all ``group_size``
members are in, or ``deadline_s`` passed since the first one arrived, or its producer is
gone (a member lost to a crash never comes; the group is used as it is). A reader marks
the groups it consumed or skipped as *resolved*; :meth:`GroupCursor.state` is what a
restarted reader needs to resolve none twice and skip none: a watermark (every episode
before it belongs to a resolved group) and the resolved groups with episodes past it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from webresearch.errors import WebResearchError
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore

__all__ = ["CURSOR_SCHEMA_VERSION", "CursorState", "GroupCursor", "GroupKey", "ReadyGroup"]

CURSOR_SCHEMA_VERSION = 1
_INCOMPLETE, _UNKNOWN = -1, -2
"""Marks of a resolved group: used with members missing; restored from a state, not read yet."""
_ID = re.compile(r"(?P<producer>[0-9a-z]+)-g(?P<number>\d+)-(?P<member>\d+)")


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """The identity of one GRPO group of a run, carried in its episodes' ids.

    Example:
        >>> key = GroupKey("ab12", 7)
        >>> key.id, key.episode_id(3)
        ('ab12-g00000007', 'ab12-g00000007-3')
        >>> GroupKey.parse("ab12-g00000007-3"), GroupKey.parse("3f9c0d1e2b4a5c6d")
        ((GroupKey(producer='ab12', number=7), 3), None)
    """

    producer: str
    """The producing process's token (a restarted producer takes a new one)."""
    number: int
    """The group's number among its producer's."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-z]+", self.producer) or self.number < 0:
            raise WebResearchError(f"Expects a lowercase alphanumeric producer and a number "
                                   f">= 0, actual: {self.producer!r}, {self.number}")

    @property
    def id(self) -> str:
        """The group's id (the prefix of its episodes' ids)."""
        return f"{self.producer}-g{self.number:08d}"

    def episode_id(self, member: int) -> str:
        """The id of the group's ``member``-th episode."""
        return f"{self.id}-{member}"

    @classmethod
    def parse(cls, episode_id: str) -> tuple[GroupKey, int] | None:
        """The group and member index an episode id names; ``None`` for any other id."""
        match = _ID.fullmatch(episode_id)
        if match is None:
            return None
        return cls(match["producer"], int(match["number"])), int(match["member"])


@dataclass(frozen=True, slots=True)
class ReadyGroup:
    """A group as the cursor sees it: its members so far, oldest weights, first commit."""

    key: GroupKey
    version: int
    """The oldest policy version among its episodes (the one staleness is measured from)."""
    episode_ids: tuple[str, ...]
    """Its members' episode ids, by member index."""
    first_seq: int
    """The commit sequence number of its first member."""
    complete: bool
    """Whether every member is in (otherwise it is past its deadline, or not ready)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CursorState:
    """Where a reader stopped: enough to resume without resolving a group twice.

    Example:
        >>> state = CursorState(run_id="r", watermark=12, resolved=("ab-g00000003",))
        >>> CursorState.from_json(state.to_json()) == state
        True
    """

    run_id: str
    """The run read."""
    watermark: int = 0
    """Every episode committed before this sequence number belongs to a resolved group."""
    resolved: tuple[str, ...] = ()
    """Resolved groups with an episode at or past the watermark (or resolved incomplete)."""

    def to_json(self) -> dict[str, Any]:
        return {"v": CURSOR_SCHEMA_VERSION, "run_id": self.run_id, "watermark": self.watermark,
                "resolved": list(self.resolved)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CursorState:
        if data.get("v") != CURSOR_SCHEMA_VERSION:
            raise WebResearchError(f"Expects cursor schema version {CURSOR_SCHEMA_VERSION}, "
                                   f"actual: {data.get('v')!r}")
        return cls(run_id=data["run_id"], watermark=int(data["watermark"]),
                   resolved=tuple(data["resolved"]))


@dataclass(slots=True)
class _Open:
    """A group not resolved yet: its members (index -> episode id, seq, version)."""

    first_seen: float
    members: dict[int, tuple[str, int, int]] = field(default_factory=dict)

    def view(self, key: GroupKey, size: int) -> ReadyGroup:
        ordered = [self.members[m] for m in sorted(self.members)]
        return ReadyGroup(key, min(v for _, _, v in ordered), tuple(e for e, _, _ in ordered),
                          min(s for _, s, _ in ordered), len(ordered) >= size)


class GroupCursor:
    """Follows one run of a store and hands out its groups as they become ready.

    Args:
        store: The store the producers record into (only its public reads are used).
        run_id: The run to follow.
        group_size: Members of a complete group.
        deadline_s: Seconds after a group's first member was seen past which it is
            ready as it is, members missing.
        state: Where a previous reader stopped (its :meth:`state`); ``None`` starts at
            the run's first episode.
        clock: Seconds, monotonic (tests pass a fake one).

    Example:
        >>> import tempfile
        >>> from webresearch.replay.schema import RunRecord
        >>> from webresearch.tasks import Task
        >>> store = ReplayStore(tempfile.mkdtemp())
        >>> run = store.create_run(RunRecord())
        >>> task, key = Task(id="t", question="Q?", answers=("a",)), GroupKey("p", 0)
        >>> def member(m: int) -> EpisodeRecord:
        ...     return EpisodeRecord(run.run_id, task, m, "answered", 1.0, 1.0, 1.0,
        ...                          episode_id=key.episode_id(m))
        >>> cursor = GroupCursor(store, run.run_id, group_size=2, deadline_s=60)
        >>> store.append([member(0)]), cursor.refresh(), cursor.ready()
        (1, 1, [])
        >>> store.append([member(1)]), cursor.refresh(), [g.key.id for g in cursor.ready()]
        (1, 1, ['p-g00000000'])
        >>> cursor.resolve([key]); cursor.ready(), cursor.state().watermark
        ([], 2)
        >>> store.close()
    """

    def __init__(self, store: ReplayStore, run_id: str, *, group_size: int, deadline_s: float,
                 state: CursorState | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if group_size < 1 or deadline_s <= 0:
            raise WebResearchError(f"Expects group_size >= 1 and deadline_s > 0, actual: "
                                   f"{group_size}, {deadline_s}")
        if state is not None and state.run_id != run_id:
            raise WebResearchError(f"Expects a cursor state of run {run_id!r}, actual: "
                                   f"{state.run_id!r}")
        self.store, self.run_id = store, run_id
        self.group_size, self.deadline_s, self.clock = group_size, deadline_s, clock
        self.foreign = 0
        """Episodes of the run whose ids name no member of a group (recorded by something
        else, or with a member index past the group size): left alone."""
        self._start = state.watermark if state is not None else 0
        self._next = 0
        """The next summary to read."""
        self._open: dict[GroupKey, _Open] = {}
        self._resolved: dict[str, int] = dict.fromkeys(state.resolved, _UNKNOWN) if state else {}
        """Resolved group id -> the last seq seen of it; ``_INCOMPLETE`` ones are kept for
        good (a member may still come), ``_UNKNOWN`` ones until read again."""

    # ---------------------------------------------------------------- reading
    def refresh(self) -> int:
        """Read the episodes committed since the last call; return how many were new."""
        new, self._next = self.store.summaries_from(self.run_id, self._next)
        now = self.clock()
        for summary in new:
            if summary["seq"] >= self._start:
                self._add(summary, now)
        return len(new)

    def _add(self, summary: dict[str, Any], now: float) -> None:
        parsed = GroupKey.parse(summary["episode_id"])
        if parsed is None or parsed[1] >= self.group_size:
            self.foreign += 1
            return
        key, member = parsed
        last = self._resolved.get(key.id)
        if last is not None:  # a resolved group read again, or a late member: left out
            if last != _INCOMPLETE:
                self._resolved[key.id] = max(last, summary["seq"])
            return
        group = self._open.setdefault(key, _Open(now))
        group.members.setdefault(member, (summary["episode_id"], summary["seq"],
                                          summary["policy_version"]))

    # ------------------------------------------------------------ the groups
    def pending(self) -> list[ReadyGroup]:
        """Every group not resolved yet, ready or not, oldest first (by version, then commit)."""
        views = [g.view(k, self.group_size) for k, g in self._open.items()]
        return sorted(views, key=lambda g: (g.version, g.first_seq))

    def ready(self) -> list[ReadyGroup]:
        """The groups ready to train on: complete, or past their deadline; oldest first."""
        now = self.clock()
        return [g for g in self.pending()
                if g.complete or now - self._open[g.key].first_seen >= self.deadline_s]

    def older_than(self, version: int) -> list[ReadyGroup]:
        """The unresolved groups (ready or not) whose oldest episode predates ``version``."""
        return [g for g in self.pending() if g.version < version]

    def expire(self) -> None:
        """Make every pending group ready as it is: its producer is gone (a resumed run's)."""
        for group in self._open.values():
            group.first_seen = -float("inf")

    def resolve(self, keys: Iterable[GroupKey]) -> None:
        """Mark groups consumed or skipped: they are never handed out again."""
        for key in keys:
            group = self._open.pop(key, None)
            if group is None:
                raise WebResearchError(f"Expects a pending group, actual: {key.id!r}")
            seqs = [s for _, s, _ in group.members.values()]
            self._resolved[key.id] = max(seqs) if len(seqs) >= self.group_size else _INCOMPLETE

    def load(self, group: ReadyGroup) -> list[EpisodeRecord]:
        """The group's episodes, by member index."""
        return [self.store.episode(episode_id) for episode_id in group.episode_ids]

    # ---------------------------------------------------------------- resume
    def state(self) -> CursorState:
        """Where this cursor stands: pass it to a new cursor to carry on from here."""
        watermark = min((g.first_seq for g in self.pending()), default=max(self._next, self._start))
        resolved = tuple(sorted(g for g, last in self._resolved.items()
                                if last in (_INCOMPLETE, _UNKNOWN) or last >= watermark))
        return CursorState(run_id=self.run_id, watermark=watermark, resolved=resolved)
