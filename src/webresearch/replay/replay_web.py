"""Replaying the web: serve the search results and pages that a recorded run saw, offline."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from webresearch.errors import ConfigError, DamagedRecord, ReplayMiss
from webresearch.net.urls import normalize_query, normalize_url
from webresearch.replay.schema import EpisodeRecord
from webresearch.replay.store import ReplayStore
from webresearch.tasks import Task
from webresearch.web.backend import Page, SearchResults, WebBackend
from webresearch.web.reader import Extract, Reader, ReadRequest

__all__ = ["ReplayWeb"]

MISS_MODES = ("error", "observe")


class ReplayWeb(WebBackend):
    """A web backend that answers only from recorded episodes, never from the network.

    Requests are matched exactly first, then by normalised query or URL. A request
    that was never recorded raises :class:`~webresearch.errors.ReplayMiss` naming it
    (``on_miss="error"``), or comes back as a world failure the agent can read
    (``on_miss="observe"``), for running a new policy on an old snapshot.

    Every recorded page and search is checked against its content hash as the store
    reads it; a tampered or damaged one is never served. Its episode is left out, and a
    request that finds no record then raises :class:`~webresearch.errors.DamagedRecord`
    naming the damaged record (in either mode: the request may be in it).

    Args:
        source: A store (or its directory), or the episodes themselves.
        run_id: Replay one run only; ``None`` uses every run of the store.
        on_miss: ``"error"`` or ``"observe"``.
    """

    def __init__(self, source: ReplayStore | str | Path | Iterable[EpisodeRecord], *,
                 run_id: str | None = None, on_miss: str = "error") -> None:
        if on_miss not in MISS_MODES:
            raise ConfigError(f"Expects on_miss in {list(MISS_MODES)}, actual: {on_miss!r}")
        self.on_miss = on_miss
        self._spec = (f"replay:{source}" + (f"#{run_id}" if run_id else "")
                      if isinstance(source, str | Path) and on_miss == "error" else None)
        self._searches: dict[tuple[str, int], SearchResults] = {}
        self._pages: dict[str, Page] = {}
        self._reads: dict[str, Extract] = {}
        self._tasks: dict[str, Task] = {}
        owned = isinstance(source, str | Path)
        store = ReplayStore(source, create=False) if isinstance(source, str | Path) else source
        episodes = store.episodes(run_id) if isinstance(store, ReplayStore) else store
        for episode in episodes:
            self._index(episode)
        self.damaged: dict[str, DamagedRecord] = (
            dict(store.damaged) if isinstance(store, ReplayStore) else {})
        """The recorded records that could not be read (a request they held is not served)."""
        if owned and isinstance(store, ReplayStore):
            store.close()

    def _miss(self, message: str) -> None:
        """Raise for a request not served: damage first, else a miss if ``on_miss="error"``."""
        if self.damaged:
            key, damage = next(iter(self.damaged.items()))
            raise DamagedRecord(f"Expects the recorded run's records intact to replay "
                                f"(the request: {message}), actual: {len(self.damaged)} "
                                f"damaged, the first {key!r}: {damage}", key=key)
        if self.on_miss == "error":
            raise ReplayMiss(f"{message}; replay serves only what was recorded")

    def _index(self, episode: EpisodeRecord) -> None:
        self._tasks.setdefault(episode.task.id, episode.task)
        for step in episode.steps:
            for call in step.web:
                if isinstance(call.response, Extract):
                    self._reads.setdefault(call.request, call.response)
                elif isinstance(call.response, SearchResults):
                    for query in (call.request, normalize_query(call.request)):
                        self._searches.setdefault((query, call.k), call.response)
                elif isinstance(call.response, Page):
                    for url in (call.request, _normal(call.request)):
                        self._pages.setdefault(url, call.response)

    @property
    def size(self) -> tuple[int, int]:
        """Distinct (searches, pages) that can be served (both spellings counted)."""
        return len(self._searches), len(self._pages)

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        found = (self._searches.get((query, k))
                 or self._searches.get((normalize_query(query), k)))
        if found is not None:
            return found
        message = f"the recorded run never searched {query!r} (k={k})"
        self._miss(message)
        return SearchResults(query=query, error=f"not in the recorded snapshot: {message}")

    def spec(self) -> str | None:
        return self._spec

    def default_tasks(self) -> list[Task] | None:
        """The recorded run's tasks, in the order first met: a replay asks what it asked."""
        return list(self._tasks.values()) or None

    def recorded_reader(self) -> Reader:
        """The reader of the recorded run, replayed: the env uses it in place of its own
        reader, so a run with a reading agent replays exactly and offline."""
        return _RecordedReader(self)

    async def read(self, request: ReadRequest) -> Extract:
        """The reading recorded for ``request`` (URL, segment, question)."""
        found = self._reads.get(request.key)
        if found is not None:
            return found
        message = (f"the recorded run never read segment {request.index + 1} of "
                   f"{request.url!r} for this question")
        self._miss(message)
        return Extract("", error=f"not in the recorded snapshot: {message}")

    async def fetch(self, url: str) -> Page:
        found = self._pages.get(url) or self._pages.get(_normal(url))
        if found is not None:
            return found
        message = f"the recorded run never fetched {url!r}"
        self._miss(message)
        return Page.failure(url, f"not in the recorded snapshot: {message}")


def _normal(url: str) -> str:
    try:
        return normalize_url(url)
    except ValueError:
        return url


class _RecordedReader(Reader):
    """Serves a replayed run's readings (never calls a model)."""

    name = "replay"

    def __init__(self, web: ReplayWeb) -> None:
        self.web = web

    async def read(self, request: ReadRequest) -> Extract:
        return await self.web.read(request)
