"""Running the env's tools (search, browse) against a web backend for one episode."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from webresearch.envs.config import EnvConfig
from webresearch.envs.episode import EpisodeState
from webresearch.envs.formats import ActionFormat, ToolCall
from webresearch.envs.reading import PageReader, refusal
from webresearch.web.base import Page, SearchResults, WebBackend
from webresearch.web.calls import WebCall
from webresearch.web.reader import Reader

__all__ = ["ToolRunner", "split_segments"]

T = TypeVar("T")
_BLANKS = re.compile("[\n ]*")


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


class ToolRunner:
    """Executes tool calls for the env and renders what they return as observation bodies."""

    def __init__(self, web: WebBackend, fmt: ActionFormat, config: EnvConfig,
                 reader: Reader | None = None) -> None:
        self.web = web
        self.format = fmt
        self.config = config
        self.reading = PageReader(reader, fmt, config) if reader is not None else None

    async def run(self, call: ToolCall, state: EpisodeState) -> str:
        """Run ``call`` for the episode in ``state``; return the observation body."""
        limit = self.config.max_queries if call.tool == "search" else self.config.max_urls
        arguments = call.arguments[:limit]
        notes = [call.note] if call.note else []
        if len(call.arguments) > limit:
            notes.append(f"Only the first {limit} of {len(call.arguments)} were used.")
        if call.tool == "search":
            body = await self._search(arguments, state)
        else:
            body = await self._browse(arguments, state)
        return "\n".join([*notes, body]) if notes else body

    async def _search(self, queries: Sequence[str], state: EpisodeState) -> str:
        k = self.config.top_k

        async def search(query: str) -> SearchResults:
            start = time.perf_counter()
            results = await self.web.search(query, k=k)
            state.call_web(WebCall("search", query, results, k, time.perf_counter() - start))
            return results

        results: list[SearchResults] = await _gather(search, queries)
        state.searched(queries, results)
        return self.format.render_search(results)

    async def _browse(self, urls: Sequence[str], state: EpisodeState) -> str:
        refused = {u: r for u in urls if (r := refusal(u, state, self.config.browse_scope))}
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
            for url, page in zip(new, pages, strict=True):
                state.fetched(url, page, split_segments(page.text, size) if page.ok else [])
        state.note_error(*refused.values())
        if self.reading is None:
            return "\n\n".join(refused.get(u) or self._read(u, state) for u in urls)
        state.begin_reading()
        unique = [u for u in dict.fromkeys(urls) if u not in refused]
        reading = self.reading
        bodies = await _gather(lambda u: self._read_with(reading, u, state), unique)
        readings = dict(zip(unique, bodies, strict=True))
        return "\n\n".join(refused.get(u) or readings[u] for u in dict.fromkeys(urls))

    async def _read_with(self, reading: PageReader, url: str, state: EpisodeState) -> str:
        page, _ = state.segments[url]
        if not page.ok:
            return self._read(url, state)  # the fetch failed: say so, as without a reader
        state.visit(url)
        return await reading.browse(url, state)

    def _read(self, url: str, state: EpisodeState) -> str:
        page, segments = state.segments[url]
        if not page.ok:
            error = page.error or f"HTTP {page.status}"
            state.note_error(f"browse {url}: {error}")
            return f"Could not read {url}: {error}"
        state.visit(url)
        index = state.next_segment.get(url, 0)
        if index >= len(segments):
            return f"No more content: all {len(segments)} segments of {url} have been shown."
        state.shown(url, index)
        return self.format.render_page(page, segments[index], index, len(segments))
