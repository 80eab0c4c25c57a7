"""The state of one research episode, and the timings measured along it."""

from __future__ import annotations

from dataclasses import dataclass, field

from webresearch.tasks import Task
from webresearch.web.base import Page
from webresearch.web.calls import WebCall

__all__ = ["EpisodeState", "StepTiming"]


@dataclass(frozen=True, slots=True)
class StepTiming:
    """Wall-clock seconds one step took: parsing, tools, and in all.

    Timings are measurements, not state: two timings always compare equal, so that
    seeded runs compare equal in ``info`` (as Gymnasium's ``check_env`` requires)
    while the numbers stay available.

    Example:
        >>> StepTiming(0.1, 0.2, 0.3) == StepTiming(0.0, 0.0, 0.0)
        True
    """

    parse_s: float = field(compare=False)
    tool_s: float = field(compare=False)
    total_s: float = field(compare=False)


@dataclass(slots=True)
class EpisodeState:
    """Everything one episode has done so far.

    Attributes:
        task: The task being researched.
        turns: Non-answer steps taken (tool calls, and retried invalid actions).
        tool_calls: Tool calls made.
        responses: The agent's action texts, in order.
        queries: Search queries run.
        urls_visited: URLs browsed, in order, without duplicates.
        segments: Page text segments by requested URL (fetched once per episode).
        next_segment: Index of the next segment to show, by requested URL.
        transcript: ``(role, text)`` pairs for rendering.
        timings: One :class:`StepTiming` per step.
        step_calls: The web calls of the current step.
        cache_hits: Web responses (search results, pages) that came from a cache.
        cache_misses: Web responses that did not.
        errors: World failures met (404s, timeouts) and invalid actions.
        done: Whether the episode has ended.
        latest_results: URLs in the results of the latest search call (as given, and
            normalised).
        result_urls: URLs in any search result of the episode (likewise).
        url_queries: The latest query whose results held each URL.
        memory: What the reading agent extracted so far, oldest first.
        reader_tokens: Reader tokens spent in the current step.
    """

    task: Task
    turns: int = 0
    tool_calls: int = 0
    responses: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    urls_visited: list[str] = field(default_factory=list)
    segments: dict[str, tuple[Page, list[str]]] = field(default_factory=dict)
    next_segment: dict[str, int] = field(default_factory=dict)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    timings: list[StepTiming] = field(default_factory=list)
    step_calls: list[WebCall] = field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0
    errors: list[str] = field(default_factory=list)
    done: bool = False
    latest_results: set[str] = field(default_factory=set)
    result_urls: set[str] = field(default_factory=set)
    url_queries: dict[str, str] = field(default_factory=dict)
    memory: list[str] = field(default_factory=list)
    reader_tokens: int = 0

    def count_cache(self, hit: bool) -> None:
        """Count one web response as served from a cache (``hit``) or not."""
        if hit:
            self.cache_hits += 1
        else:
            self.cache_misses += 1
