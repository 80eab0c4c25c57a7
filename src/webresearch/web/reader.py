"""The reading-agent interface: a page segment and the question in, the relevant extract out."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, runtime_checkable

from webresearch.web.snippets import tokenize

__all__ = ["Extract", "KeywordReader", "ReadRequest", "Reader", "ReaderSource"]


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """What a reader sees: DeepResearcher's extraction prompt, field by field.

    Attributes:
        question: The task's question.
        sub_question: The search query whose results held the URL ("" if none did).
        memory: What was extracted earlier in the episode, oldest first.
        url: The page's URL.
        title: The page's title.
        index: Which segment this is (0-based).
        total: How many segments the page has.
        segment: The segment's text.
    """

    question: str
    sub_question: str
    memory: tuple[str, ...]
    url: str
    title: str
    index: int
    total: int
    segment: str

    @property
    def key(self) -> str:
        """What identifies the reading for caches and replay: URL, segment and question."""
        return json.dumps([self.url, self.index, self.question], ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Extract:
    """A reader's verdict on one segment.

    Attributes:
        information: The question-relevant information in the segment ("" if none).
        page_down: Whether the reader wants the next segment.
        summary: A short summary of the segment.
        tokens: Tokens the reader generated for it (its cost).
        from_cache: Whether it came from the reader's cache.
        error: Why the reader gave no usable answer (unparsable output, a dead server).
    """

    information: str
    page_down: bool = False
    summary: str = ""
    tokens: int = 0
    from_cache: bool = field(default=False, compare=False)
    error: str | None = None


class Reader(abc.ABC):
    """Reads page segments for the env's browse tool (``WebResearchEnv(reader=...)``).

    Implementations return failures as ``Extract.error`` and raise only for bugs. A
    reader is an async context manager; :meth:`aclose` is idempotent.
    """

    name: str = "reader"

    @abc.abstractmethod
    async def read(self, request: ReadRequest) -> Extract:
        """Extract what in ``request.segment`` bears on the question."""

    async def aclose(self) -> None:  # noqa: B027 - a no-op default is the point
        """Release resources; calling it again has no effect."""

    async def __aenter__(self) -> Reader:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


@runtime_checkable
class ReaderSource(Protocol):
    """Something that can read for the env without being a :class:`Reader` itself: a
    policy (``WebResearchEnv(reader=policy)`` reads with the training policy)."""

    def as_reader(self) -> Reader:
        """A reader that reads with this object."""
        ...


class KeywordReader(Reader):
    """A deterministic reader without a model: keeps the lines that share a word with the
    question or the sub-question, and asks for the next segment until it has found some.

    Example:
        >>> import asyncio
        >>> request = ReadRequest("Where was Ada born?", "Ada", (), "u", "Ada", 0, 2,
        ...                       "Ada was born in Tarsk.\\nShe liked tea.")
        >>> extract = asyncio.run(KeywordReader().read(request))
        >>> extract.information, extract.page_down
        ('Ada was born in Tarsk.', False)
    """

    name = "keyword"

    def __init__(self, *, always_page_down: bool = False) -> None:
        self.always_page_down = always_page_down

    async def read(self, request: ReadRequest) -> Extract:
        terms = set(tokenize(f"{request.question} {request.sub_question}"))
        lines = [line.strip() for line in request.segment.splitlines() if line.strip()]
        kept = [line for line in lines if terms & set(tokenize(line))]
        more = request.index + 1 < request.total
        page_down = self.always_page_down or (more and not kept)
        return Extract("\n".join(kept), page_down=page_down, summary=lines[0] if lines else "")
