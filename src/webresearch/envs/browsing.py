"""Browsing through a reading agent, and which URLs browse accepts at all."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from webresearch.envs.config import EnvConfig
from webresearch.envs.episode import EpisodeState
from webresearch.envs.formats import ActionFormat
from webresearch.errors import ConfigError
from webresearch.net.urls import normalize_url
from webresearch.web.backend import Page, WebBackend
from webresearch.web.calls import WebCall
from webresearch.web.reader import Extract, Reader, ReaderSource, ReadRequest

__all__ = ["PageReader", "make_reader", "refusal"]


def make_reader(reader: Reader | ReaderSource | None, web: WebBackend) -> Reader | None:
    """The env's reader: ``None``, a :class:`Reader`, or something that reads (a policy).

    A web backend that replays a recorded run supplies that run's readings instead
    (``recorded_reader()``), so replay never calls a model.
    """
    if reader is None:
        return None
    recorded = web.recorded_reader()
    if recorded is not None:
        return recorded
    if isinstance(reader, Reader):
        return reader
    if isinstance(reader, ReaderSource):
        return reader.as_reader()
    raise ConfigError(f"Expects reader=None, a Reader or a Policy, actual: {type(reader)}")


def refusal(url: str, state: EpisodeState, scope: str) -> str | None:
    """Why browse refuses ``url`` under ``scope`` (``None`` when it may be read).

    Example:
        >>> from webresearch.tasks import Task
        >>> urls = {"https://a.test/x"}
        >>> state = EpisodeState(task=Task(id="t", question="Q?", answers=("a",)),
        ...                      latest_results=urls, result_urls=urls)
        >>> refusal("https://a.test/x", state, "latest") is None
        True
        >>> refusal("https://b.test/", state, "latest")
        'Refused https://b.test/: browse reads only URLs from the latest search results.'
    """
    malformed = _malformed(url)
    if malformed is not None:
        return f"Refused {url[:200]}: {malformed}."
    if scope == "any":
        return None
    allowed = state.latest_results if scope == "latest" else state.result_urls
    if url in allowed or normalize_url(url) in allowed:  # searches add both spellings
        return None
    where = "the latest search results" if scope == "latest" else "this episode's search results"
    if not state.result_urls:
        return f"Refused {url}: browse reads only URLs from {where}, and there are none yet."
    return f"Refused {url}: browse reads only URLs from {where}."


def _malformed(url: str) -> str | None:
    """Why ``url`` is no URL at all (unparsable, an impossible port, unencodable), or ``None``.

    Example:
        >>> _malformed("http://[::1")
        'it is not a well-formed URL (Invalid IPv6 URL)'
        >>> _malformed("https://a.test/x") is None
        True
    """
    try:
        url.encode("utf-8")
        _ = urlsplit(url).port
    except ValueError as exc:  # UnicodeEncodeError too
        reason = "it holds a lone surrogate" if isinstance(exc, UnicodeError) else str(exc)
        return f"it is not a well-formed URL ({reason.split(':')[0]})"
    return None


class PageReader:
    """Reads fetched pages for the agent with a reading agent, DeepResearcher's way.

    Each browse of a URL hands its next segments, one at a time, to the reader with
    the question, the query whose results held the URL, and the episode's memory of
    extracts; reading stops when the reader says so, at ``reader_max_segments`` per URL
    (a reader that always wants the next page stops there), or when the step has spent
    ``reader_max_tokens`` reader tokens. The agent sees the new extracts only. Every
    reading is recorded as a ``read`` web call, so replay is exact.
    """

    def __init__(self, reader: Reader, fmt: ActionFormat, config: EnvConfig) -> None:
        self.reader, self.format, self.config = reader, fmt, config

    async def browse(self, url: str, state: EpisodeState) -> str:
        """Read the next segments of ``url`` (already fetched into ``state``)."""
        page, segments = state.segments[url]
        first = state.next_segment.get(url, 0)
        cap = self.config.reader_max_segments
        if first >= len(segments):
            return f"No more content: all {len(segments)} segments of {url} have been read."
        if first >= cap:
            return (f"Not read further: {url} has had the {cap} segments a page may be "
                    f"given to the reader.")
        if state.reader_tokens >= self.config.reader_max_tokens:
            return (f"Not read: this step's reader token budget is spent; browse {url} "
                    "again to read it.")
        extracts, note, index = [], "", first
        for index in range(first, min(len(segments), cap)):
            if index > first and state.reader_tokens >= self.config.reader_max_tokens:
                note = "Stopped: this step's reader token budget is spent."
                break
            extract = await self._read(page, url, index, segments, state)
            state.shown(url, index)
            if extract.error is not None:
                state.note_error(f"read {url}: {extract.error}")
                note = f"The reader failed on segment {index + 1}: {extract.error}"
                break
            if extract.information:
                extracts.append(extract.information)
                state.remember(extract.information)
            if not extract.page_down:
                break
        else:
            if index + 1 >= cap and index + 1 < len(segments):
                note = f"Stopped at the cap of {cap} segments per page."
        last = state.next_segment.get(url, first)
        return self.format.render_reading(page, extracts, first=first, last=last,
                                          total=len(segments), note=note)

    async def _read(self, page: Page, url: str, index: int, segments: list[str],
                    state: EpisodeState) -> Extract:
        request = ReadRequest(
            question=state.task.question, sub_question=state.url_queries.get(url, ""),
            memory=tuple(state.memory), url=page.final_url, title=page.title, index=index,
            total=len(segments), segment=segments[index])
        start = time.perf_counter()
        extract = await self.reader.read(request)
        state.read(WebCall("read", request.key, extract, 0, time.perf_counter() - start),
                   extract)
        return extract
