"""The web backend interface: ``search(query, k)`` and ``fetch(url)``, and their values."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from webresearch.tasks import Task
from webresearch.untrusted import scalar_fields
from webresearch.web.closing import AsyncClosing

if TYPE_CHECKING:
    from webresearch.web.reader import Reader

__all__ = ["Page", "SearchHit", "SearchResults", "WebBackend"]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result.

    Attributes:
        title: The page title as the search engine shows it.
        url: The result's URL, which ``fetch`` accepts.
        snippet: A short query-relevant excerpt of the page.
    """

    title: str
    url: str
    snippet: str

    def __post_init__(self) -> None:
        scalar_fields(self, ("title", "url", "snippet"))


@dataclass(frozen=True, slots=True)
class SearchResults:
    """What one query returned: hits, or a world failure (quota, timeout) as ``error``.

    Attributes:
        query: The query as it was sent.
        hits: The ranked hits, best first.
        error: A human-readable world failure, or ``None`` when the search succeeded.
        from_cache: Whether the results came from a cache rather than the engine.
    """

    query: str
    hits: tuple[SearchHit, ...] = ()
    error: str | None = None
    from_cache: bool = False

    def __post_init__(self) -> None:
        scalar_fields(self, ("query", "error"))


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched page, or the world failure that stood in its way.

    Attributes:
        url: The URL that was asked for.
        final_url: The URL after redirects.
        status: The HTTP status, or 0 when no response came (DNS failure, timeout).
        title: The page title ("" when unknown).
        text: Readable text extracted from the body.
        fetched_at: Unix time of the fetch (a measurement: not part of equality).
        from_cache: Whether the page came from a cache.
        error: A human-readable world failure (404, timeout, too large, robots.txt),
            or ``None`` when the page is usable.
        links: Absolute URLs the page links to, in document order.
    """

    url: str
    final_url: str
    status: int
    title: str
    text: str
    fetched_at: float = field(default=0.0, compare=False)
    from_cache: bool = False
    error: str | None = None
    links: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        scalar_fields(self, ("url", "final_url", "title", "text", "error"), ("links",))

    @property
    def ok(self) -> bool:
        """Whether the page has usable text (no error and a 2xx status)."""
        return self.error is None and 200 <= self.status < 300

    @classmethod
    def failure(cls, url: str, error: str, *, status: int = 0) -> Page:
        """Build the page that stands for a world failure.

        Example:
            >>> Page.failure("https://x.test/a", "404 Not Found", status=404).ok
            False
        """
        return cls(url=url, final_url=url, status=status, title="", text="", error=error)


class WebBackend(AsyncClosing, abc.ABC):
    """Where the environment's tool calls go: a simulated web, the live web, a corpus, a replay.

    Implementations return world failures as values (``SearchResults.error``,
    ``Page.error``) and raise only for bugs or misuse. A backend is an async context
    manager; :meth:`aclose` releases its resources and is idempotent.
    """

    @abc.abstractmethod
    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        """Return up to ``k`` hits for ``query``, best first."""

    @abc.abstractmethod
    async def fetch(self, url: str) -> Page:
        """Return the page at ``url`` (or a page whose ``error`` says why not)."""

    def spec(self) -> str | None:
        """The spec string that builds this backend again (``"sim:seed=3"``), or ``None``
        when one cannot (a mock, a config no spec spells): a run's record keeps it."""
        return None

    def default_tasks(self) -> list[Task] | None:
        """The backend's own task set (the simulated web's questions), or ``None``."""
        return None

    def recorded_reader(self) -> Reader | None:
        """A reader that serves recorded readings (a replay), used in place of the env's
        own reader so that a replay never calls a model; ``None`` for live backends."""
        return None

    async def release_loop(self) -> None:
        """Release what the backend holds on the running event loop, which its user (an env
        that does not own the backend) is about to close; the backend stays usable."""
