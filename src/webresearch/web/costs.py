"""What web calls cost: a price per search (by engine), fetch and reading, and an episode's bill.

Defaults (US dollars, late 2025 list prices, per call):

- ``serper``: $0.001 a search (its 50k-call plan); ``brave``: $0.005 (Brave Search API,
  "Base AI"); ``serpapi``, ``bing``: $0.015 (the "$15 per 1,000 calls" of paid search);
  ``google``: $0.005 (Custom Search JSON API); ``searxng``: $0 (self-hosted).
- ``fetch``: $0 (one's own bandwidth); a reading agent's call: $0 a call and $0 per
  token (a local model; set both for an API model).
- The simulated web, a corpus, a retriever, ``serve:`` and a replay cost nothing, and
  neither does any response served from a cache.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from webresearch.errors import ConfigError
from webresearch.web.calls import WebCall
from webresearch.web.reader import Extract

__all__ = ["DEFAULT_SEARCH_PRICES", "CallRates", "Cost", "Prices", "is_dollars"]

DEFAULT_SEARCH_PRICES: Mapping[str, float] = MappingProxyType({
    "serper": 0.001, "brave": 0.005, "google": 0.005, "serpapi": 0.015, "bing": 0.015,
    "searxng": 0.0})
"""US dollars per search call, by engine (the name after ``live:`` in a web spec)."""

_FREE_BACKENDS = ("replay",)
"""Backends whose every call is free, readings included (they serve what was recorded)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Prices:
    """US dollars per call, for search engines, page fetches and a reading agent's calls.

    Example:
        >>> Prices().rates("live:serper").search, Prices().rates("sim").search
        (0.001, 0.0)
        >>> Prices(search_usd={"sim": 0.5}).rates("sim:seed=3").search
        0.5
    """

    search_usd: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SEARCH_PRICES))
    """Dollars per search, by engine (``live:<engine>``) or backend name (``sim``,
    ``corpus``...); a name not listed costs nothing."""
    fetch_usd: float = 0.0
    """Dollars per page fetched (any backend but a replay)."""
    read_usd: float = 0.0
    """Dollars per reading-agent call (one pass over a page segment)."""
    read_usd_per_1k_tokens: float = 0.0
    """Dollars per 1,000 tokens the reading agent generated."""
    judge_usd: float = 0.0
    """Dollars per judge call (an evaluation's MBE)."""

    def __post_init__(self) -> None:
        prices = {**self.search_usd, "fetch_usd": self.fetch_usd, "read_usd": self.read_usd,
                  "read_usd_per_1k_tokens": self.read_usd_per_1k_tokens,
                  "judge_usd": self.judge_usd}
        for name, value in prices.items():
            if not is_dollars(value) or value < 0:
                raise ConfigError(f"Expects a price >= 0 for {name}, actual: {value!r:.40}")

    def rates(self, web_spec: str | None) -> CallRates:
        """The prices that apply to the backend a web spec names (``None``: an unnamed one,
        whose searches cost nothing)."""
        name = (web_spec or "").partition(":")[0]
        if name in _FREE_BACKENDS:
            return CallRates()
        engine = _engine(web_spec)
        return CallRates(search=float(self.search_usd.get(engine, 0.0)), fetch=self.fetch_usd,
                         read=self.read_usd, read_per_1k_tokens=self.read_usd_per_1k_tokens)

    def with_search(self, web_spec: str | None, usd: float) -> Prices:
        """These prices with ``usd`` per search on the engine (or backend) ``web_spec`` names.

        Example:
            >>> Prices().with_search("live:brave", 0.003).rates("live:brave").search
            0.003
        """
        return dataclasses.replace(self, search_usd={**self.search_usd, _engine(web_spec): usd})

    def to_json(self) -> dict[str, Any]:
        return {"search_usd": dict(self.search_usd), "fetch_usd": self.fetch_usd,
                "read_usd": self.read_usd, "read_usd_per_1k_tokens": self.read_usd_per_1k_tokens,
                "judge_usd": self.judge_usd}


def is_dollars(value: object) -> bool:
    """Whether ``value`` is a finite number of dollars (an ``int`` or ``float``, not a
    ``bool``, and not an integer too large for a float).

    Example:
        >>> is_dollars(0.5), is_dollars(True), is_dollars(10**400), is_dollars(float("nan"))
        (True, False, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _engine(web_spec: str | None) -> str:
    """The name a spec's searches are priced under: the engine of ``live:<engine>``
    (``serper`` when none), else the backend's name (``sim``, ``corpus``...)."""
    name, _, arg = (web_spec or "").partition(":")
    return (arg or "serper") if name == "live" else name


@dataclass(frozen=True, slots=True)
class CallRates:
    """The prices of one backend's calls (what :meth:`Prices.rates` resolves)."""

    search: float = 0.0
    fetch: float = 0.0
    read: float = 0.0
    read_per_1k_tokens: float = 0.0

    def call_usd(self, call: WebCall) -> float:
        """What one call cost: nothing when it came from a cache."""
        if call.from_cache:
            return 0.0
        if call.kind == "search":
            return self.search
        if call.kind == "fetch":
            return self.fetch
        tokens = call.response.tokens if isinstance(call.response, Extract) else 0
        return self.read + self.read_per_1k_tokens * tokens / 1000

    def cost(self, steps: Iterable[Sequence[WebCall]]) -> Cost:
        """The bill of an episode whose steps made ``steps``' web calls.

        Example:
            >>> from webresearch.web.backend import SearchResults
            >>> call = WebCall("search", "q", SearchResults(query="q"))
            >>> cost = CallRates(search=0.25).cost([[call, call], [], [call]])
            >>> cost.usd, cost.step_usd, cost.calls
            (0.75, (0.5, 0.0, 0.25), 3)
        """
        searches = fetches = reads = cached = tokens = 0
        step_usd: list[float] = []
        for calls in steps:
            step_usd.append(math.fsum(self.call_usd(c) for c in calls))
            for call in calls:
                searches += call.kind == "search"
                fetches += call.kind == "fetch"
                reads += call.kind == "read"
                cached += call.from_cache
                if isinstance(call.response, Extract):
                    tokens += call.response.tokens
        return Cost(searches=searches, fetches=fetches, reads=reads, cached=cached,
                    reader_tokens=tokens, usd=math.fsum(step_usd), step_usd=tuple(step_usd))


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    """An episode's web calls and what they cost.

    Attributes:
        searches, fetches, reads: Calls made, by kind (cache hits included).
        cached: Those served from a cache (free).
        reader_tokens: Tokens a reading agent generated.
        usd: US dollars in all.
        step_usd: US dollars per step, in order.
    """

    searches: int = 0
    fetches: int = 0
    reads: int = 0
    cached: int = 0
    reader_tokens: int = 0
    usd: float = 0.0
    step_usd: tuple[float, ...] = ()

    @property
    def calls(self) -> int:
        return self.searches + self.fetches + self.reads

    def to_json(self) -> dict[str, Any]:
        return {"searches": self.searches, "fetches": self.fetches, "reads": self.reads,
                "cached": self.cached, "reader_tokens": self.reader_tokens, "usd": self.usd,
                "step_usd": list(self.step_usd)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cost:
        """A recorded cost; a ``ValueError`` for one that is no bill (a count or a dollar
        figure below 0, not finite or not a number), so that a damaged record is named."""
        cost = cls(searches=int(data["searches"]), fetches=int(data["fetches"]),
                   reads=int(data["reads"]), cached=int(data["cached"]),
                   reader_tokens=int(data["reader_tokens"]), usd=_dollars(data["usd"]),
                   step_usd=tuple(_dollars(x) for x in data["step_usd"]))
        if min(cost.searches, cost.fetches, cost.reads, cost.cached, cost.reader_tokens) < 0:
            raise ValueError(f"expects counts >= 0, actual: {data!r:.80}")
        return cost


def _dollars(value: Any) -> float:
    if not is_dollars(value) or value < 0:
        raise ValueError(f"expects dollars >= 0, actual: {value!r:.40}")
    return float(value)
