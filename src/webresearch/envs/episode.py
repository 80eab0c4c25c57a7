"""The state of one research episode, and the timings measured along it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from webresearch.net.urls import normalize_url
from webresearch.tasks import Task
from webresearch.web.backend import Page, SearchResults
from webresearch.web.calls import WebCall
from webresearch.web.leaks import Leak
from webresearch.web.reader import Extract

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
    """Everything one episode has done so far; it changes only through its methods.

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
        leaks: Gold answers and the question's text seen in observations: the first
            sighting per kind and URL, at most ``MAX_LEAKS``.
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
    leaks: list[Leak] = field(default_factory=list)

    # ---------------------------------------------- the episode's transitions
    # Every write to an episode's state is one of these methods (tests/envs/test_episode.py).

    def begin_step(self) -> None:
        """Start a step (an action, a direct tool call or an answer): no web calls yet,
        no reader tokens spent."""
        self.step_calls = []
        self.reader_tokens = 0

    def act(self, text: str) -> None:
        """Record the agent's text for a turn, as a response and in the transcript."""
        self.responses.append(text)
        self.transcript.append(("assistant", text))

    def observe(self, text: str) -> None:
        """Record an observation the agent is shown, in the transcript."""
        self.transcript.append(("user", text))

    def spend_turn(self, *, tool_call: bool) -> None:
        """Count a turn that is not the answer: a tool call, or a retried invalid action."""
        self.turns += 1
        if tool_call:
            self.tool_calls += 1

    def note_error(self, *messages: str) -> None:
        """Record world failures met and invalid actions."""
        self.errors.extend(messages)

    def time_step(self, timing: StepTiming) -> None:
        """Record how long a step took."""
        self.timings.append(timing)

    def end(self) -> None:
        """Mark the episode ended."""
        self.done = True

    def call_web(self, call: WebCall) -> None:
        """Record a web call of the current step (search, fetch or read)."""
        self.step_calls.append(call)

    def searched(self, queries: Sequence[str], results: Sequence[SearchResults]) -> None:
        """Record a search call: its queries, its failures, and the URLs its results hold
        (both as given and normalised; the latest results replace the previous ones)."""
        self.queries.extend(queries)
        self.latest_results = set()
        for result in results:
            self.count_cache(result.from_cache)
            if result.error is not None:
                self.errors.append(f"search {result.query!r}: {result.error}")
            for hit in result.hits:
                self.latest_results |= {hit.url, normalize_url(hit.url)}
                self.url_queries[hit.url] = result.query
        self.result_urls |= self.latest_results

    def fetched(self, url: str, page: Page, segments: list[str]) -> None:
        """Keep a page fetched for ``url`` and its segments, once per episode."""
        self.segments[url] = (page, segments)
        self.count_cache(page.from_cache)

    def visit(self, url: str) -> None:
        """Record ``url`` as browsed (once, in order)."""
        if url not in self.urls_visited:
            self.urls_visited.append(url)

    def shown(self, url: str, index: int) -> None:
        """Record that segment ``index`` of ``url`` was shown (or read): the next is next."""
        self.next_segment[url] = index + 1

    def read(self, call: WebCall, extract: Extract) -> None:
        """Record one reading of a segment: the call, its tokens and whether it was cached."""
        self.step_calls.append(call)
        self.reader_tokens += extract.tokens
        self.count_cache(extract.from_cache)

    def remember(self, information: str) -> None:
        """Keep what the reading agent extracted, for its later readings."""
        self.memory.append(information)

    def saw(self, leaks: Sequence[Leak], limit: int) -> None:
        """Record leaks shown to the agent: each kind and URL once, ``limit`` in all."""
        for leak in leaks:
            if len(self.leaks) >= limit:
                return
            if not any(k.kind == leak.kind and k.url == leak.url for k in self.leaks):
                self.leaks.append(leak)

    def count_cache(self, hit: bool) -> None:
        """Count one web response as served from a cache (``hit``) or not."""
        if hit:
            self.cache_hits += 1
        else:
            self.cache_misses += 1
