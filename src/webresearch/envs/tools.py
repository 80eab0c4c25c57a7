"""Running the env's tools (search, browse) against a web backend for one episode, and the
tools called by name, for frameworks that parse the model's tool calls themselves."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from webresearch.envs.blocklist import Blocklist
from webresearch.envs.browsing import PageReader, refusal
from webresearch.envs.config import EnvConfig
from webresearch.envs.episode import EpisodeState
from webresearch.envs.formats import ActionFormat, Invalid, ToolCall
from webresearch.envs.formats.action_format import string_list
from webresearch.envs.leaks import Sighting
from webresearch.errors import did_you_mean
from webresearch.web.backend import Page, SearchResults, WebBackend
from webresearch.web.calls import WebCall
from webresearch.web.leaks import LeakSource
from webresearch.web.reader import Reader

__all__ = ["DirectTools", "ToolRunner", "split_segments"]

T = TypeVar("T")
Shown = tuple[str, list[Sighting]]
"""An observation body, and the texts in it to look in for leaks, each at its place."""
_BLANKS = re.compile("[\n ]*")
_MARK = "\ue000{}\ue000"  # stands in for the i-th piece, to find where a format puts it


def _mark_for(body: str) -> str:
    """A stand-in template fenced by a private-use character ``body`` does not hold, so no
    text the marked rendering shares with the body (a query the agent wrote, a URL) can
    pass for a stand-in.

    Example:
        >>> _mark_for("plain") == _MARK, _mark_for(_MARK.format(5)) == _MARK
        (True, False)
    """
    used = set(body)
    fence = next((c for c in map(chr, range(0xE000, 0x110000)) if c not in used), "\ue000")
    return f"{fence}{{}}{fence}"


def split_segments(text: str, size: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``size`` characters, at line breaks where possible.

    Example:
        >>> split_segments("aaa\\nbbb\\nccc", 8)
        ['aaa\\nbbb', 'ccc']
        >>> split_segments("", 8)
        ['']
    """
    segments: list[str] = []
    start = 0  # the rest of the text starts here: nothing is copied but the segments
    while len(text) - start > size:
        window = (start, start + size + 1)
        cut = text.rfind("\n", *window)
        if cut <= start:
            cut = text.rfind(" ", *window)
        if cut <= start:
            cut = start + size
        segments.append(text[start:cut].rstrip())
        start = _BLANKS.match(text, cut).end()  # type: ignore[union-attr]  # always matches
    segments.append(text[start:])
    return segments


async def _gather(func: Callable[[str], Awaitable[T]], args: Sequence[str]) -> list[T]:
    """Await ``func`` on every argument concurrently (directly when there is just one)."""
    if len(args) == 1:
        return [await func(args[0])]
    return list(await asyncio.gather(*(func(a) for a in args)))


def _join(parts: Iterable[Shown], sep: str) -> Shown:
    """The bodies joined by ``sep``, their sightings moved to their places in the whole."""
    texts: list[str] = []
    sightings: list[Sighting] = []
    at = 0
    for text, seen in parts:
        sightings += (s.moved(at) for s in seen)
        texts.append(text)
        at += len(text) + len(sep)
    return sep.join(texts), sightings


def _sightings(body: str, marked: str, pairs: Sequence[tuple[str, str, str]],
               source: LeakSource, mark: str = _MARK) -> list[Sighting]:
    """The sightings in ``body`` of ``pairs`` (a URL, its title and its text), placed by
    ``marked``: the same rendering with the i-th piece (two a pair) as ``mark.format(i)``.
    A piece the format leaves out is not seen; one it does not hold as it is (changed or
    cut), seen from the start of the body (if in doubt, shown).

    Example:
        >>> m = [_MARK.format(i) for i in range(4)]
        >>> marked = f'"Ada": 1. {m[0]} {m[1]}'  # a query echo, then the hit; m[2:] left out
        >>> _sightings('"Ada": 1. Ada Ada wrote.', marked, [("u:a", "Ada", "Ada wrote."),
        ...            ("u:b", "Bo", "hidden")], LeakSource.SEARCH)[0].pieces
        ((10, 'Ada'), (14, 'Ada wrote.'))
    """
    pieces = [piece for _, title, text in pairs for piece in (title, text)]
    places: dict[int, int] = {}
    shift = 0
    for at, i in sorted((at, i) for i in range(len(pieces))
                        if (at := marked.find(mark.format(i))) >= 0):
        places[i] = at + shift if body.startswith(pieces[i], at + shift) else 0
        shift += len(pieces[i]) - len(mark.format(i))
    return [Sighting(placed, url, source) for j, (url, _, _) in enumerate(pairs) if (
        placed := tuple((places[i], pieces[i]) for i in (2 * j, 2 * j + 1) if i in places))]


class ToolRunner:
    """Executes tool calls for the env and renders what they return as observation bodies."""

    def __init__(self, web: WebBackend, fmt: ActionFormat, config: EnvConfig,
                 reader: Reader | None = None) -> None:
        self.web = web
        self.format = fmt
        self.config = config
        self.reading = PageReader(reader, fmt, config) if reader is not None else None
        self.blocklist = Blocklist(config.blocked_domains or ())

    async def run(self, call: ToolCall, state: EpisodeState) -> Shown:
        """Run ``call`` for the episode in ``state``; return the observation body and the
        texts in it to look in for leaks, once it is cut to what the agent receives."""
        limit = self.config.max_queries if call.tool == "search" else self.config.max_urls
        arguments = call.arguments[:limit]
        notes = [call.note] if call.note else []
        if len(call.arguments) > limit:
            notes.append(f"Only the first {limit} of {len(call.arguments)} were used.")
        if call.tool == "search":
            body = await self._search(arguments, state)
        else:
            body = await self._browse(arguments, state)
        return _join([*((note, []) for note in notes), body], "\n")

    async def _search(self, queries: Sequence[str], state: EpisodeState) -> Shown:
        k = self.config.top_k

        async def search(query: str) -> SearchResults:
            start = time.perf_counter()
            results = await self.web.search(query, k=k)
            state.call_web(WebCall("search", query, results, k, time.perf_counter() - start))
            return results

        results: list[SearchResults] = await _gather(search, queries)
        shown = [self._withhold(r) for r in results]
        withheld = sum(len(r.hits) for r in results) - sum(len(r.hits) for r in shown)
        state.searched(queries, shown)
        body = self.format.render_search(shown)
        mark = _mark_for(body)
        marks = map(mark.format, itertools.count())
        marked = self.format.render_search([dataclasses.replace(r, hits=tuple(
            dataclasses.replace(h, title=next(marks), snippet=next(marks)) for h in r.hits))
            for r in shown])
        seen = _sightings(body, marked, [(h.url, h.title, h.snippet) for r in shown
                                         for h in r.hits], LeakSource.SEARCH, mark)
        if not withheld:
            return body, seen
        return _join([(f"{withheld} result(s) on blocked domains (hosts of benchmark data) "
                       "were withheld.", []), (body, seen)], "\n")

    def _withhold(self, results: SearchResults) -> SearchResults:
        """``results`` without the hits on blocked domains."""
        if not self.blocklist:
            return results
        kept = tuple(h for h in results.hits if self.blocklist.match(h.url) is None)
        return results if len(kept) == len(results.hits) else dataclasses.replace(
            results, hits=kept)

    def _blocked(self, url: str) -> str | None:
        """Why browse refuses ``url`` as on a blocked domain (``None``: it does not)."""
        entry = self.blocklist.match(url) if self.blocklist else None
        return None if entry is None else (
            f"Refused {url}: it is on a blocked domain ({entry}), a host of benchmark data.")

    def _unblocked(self, url: str, page: Page) -> Page:
        """``page``, or a refusal when a redirect took it to a blocked domain."""
        entry = self.blocklist.match(page.final_url) if self.blocklist and page.ok else None
        if entry is None:
            return page
        return dataclasses.replace(page, text="", links=(), error=(
            f"refused: redirected to {page.final_url}, on a blocked domain ({entry})"))

    async def _browse(self, urls: Sequence[str], state: EpisodeState) -> Shown:
        scope = self.config.browse_scope
        refused = {u: r for u in urls if (r := refusal(u, state, scope) or self._blocked(u))}
        new = [u for u in dict.fromkeys(urls) if u not in state.segments and u not in refused]

        async def fetch(url: str) -> Page:
            start = time.perf_counter()
            page = await self.web.fetch(url)
            state.call_web(WebCall("fetch", url, page, 0, time.perf_counter() - start))
            return page

        if new:
            pages: list[Page] = await _gather(fetch, new)
            size = (self.config.segment_chars if self.reading is None
                    else self.config.reader_segment_chars)
            for url, fetched in zip(new, pages, strict=True):
                page = self._unblocked(url, fetched)
                state.fetched(url, page, split_segments(page.text, size) if page.ok else [])
        state.note_error(*refused.values())
        if self.reading is None:
            return _join([(refused[u], []) if u in refused else self._read(u, state)
                          for u in urls], "\n\n")
        unique = [u for u in dict.fromkeys(urls) if u not in refused]
        reading = self.reading
        bodies = await _gather(lambda u: self._read_with(reading, u, state), unique)
        readings = dict(zip(unique, bodies, strict=True))  # in the order shown, not read
        return _join([(refused[u], []) if u in refused else readings[u]
                      for u in dict.fromkeys(urls)], "\n\n")

    async def _read_with(self, reading: PageReader, url: str, state: EpisodeState) -> Shown:
        page, _ = state.segments[url]
        if not page.ok:
            return self._read(url, state)  # the fetch failed: say so, as without a reader
        state.visit(url)
        body = await reading.browse(url, state)
        return body, [Sighting(((0, body),), page.final_url or url, LeakSource.PAGE)]

    def _read(self, url: str, state: EpisodeState) -> Shown:
        page, segments = state.segments[url]
        if not page.ok:
            error = page.error or f"HTTP {page.status}"
            state.note_error(f"browse {url}: {error}")
            return f"Could not read {url}: {error}", []
        state.visit(url)
        index = state.next_segment.get(url, 0)
        if index >= len(segments):
            return (f"No more content: all {len(segments)} segments of {url} have been "
                    "shown.", [])
        state.shown(url, index)
        body = self.format.render_page(page, segments[index], index, len(segments))
        mark = _mark_for(body)
        marked = self.format.render_page(dataclasses.replace(page, title=mark.format(0)),
                                         mark.format(1), index, len(segments))
        return body, _sightings(body, marked, [(page.final_url or url, page.title,
                                                segments[index])], LeakSource.PAGE, mark)


class DirectTools:
    """The tool names a framework may call, each mapped to the env's tool and its one
    argument: the format's schema names (``web_search``, ``browse_webpage``) and the
    env's own (``search``, ``browse``).

    Example:
        >>> from webresearch.envs.formats import get_format
        >>> tools = DirectTools(get_format("deepresearcher"))
        >>> tools.resolve("web_search", {"query": ["a", "b"]})
        ToolCall(tool='search', arguments=('a', 'b'), note='')
        >>> tools.resolve("web_serch", {"query": ["a"]})
        Invalid(message="unknown tool 'web_serch'. Did you mean 'web_search'?")
    """

    def __init__(self, fmt: ActionFormat) -> None:
        self.table = {tool: (tool, "query" if tool == "search" else "url_list")
                      for tool in fmt.tools}
        schemas = fmt.tool_schemas()
        if len(schemas) == len(fmt.tools):
            for tool, schema in zip(fmt.tools, schemas, strict=True):
                function = schema["function"]
                self.table[function["name"]] = (tool, function["parameters"]["required"][0])

    def resolve(self, name: str, arguments: Mapping[str, Any]) -> ToolCall | Invalid:
        """The call ``name(arguments)`` means, or why it means none (for the agent)."""
        if not isinstance(name, str):
            return Invalid(f"a tool name must be text, not {type(name).__name__}")
        if name not in self.table:
            return Invalid(f"unknown tool {name!r}.{did_you_mean(name, self.table)}".rstrip("."))
        tool, field = self.table[name]
        if not isinstance(arguments, Mapping):
            return Invalid(f"the arguments must be a JSON object, not {type(arguments).__name__}")
        values = string_list(arguments.get(field), field=field)
        return values if isinstance(values, Invalid) else ToolCall(tool, values)
