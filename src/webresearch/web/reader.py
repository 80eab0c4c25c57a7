"""Readers: a page segment and the question in, the relevant extract out; by keyword or by model."""

from __future__ import annotations

import abc
import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from webresearch.chat import ChatMessage, Completion, Prompt, PromptLike, SamplingParams
from webresearch.errors import WebResearchError
from webresearch.net.rate_limit import Rate, RateLimiter
from webresearch.net.single_flight import SingleFlight
from webresearch.untrusted import embedded_object, loads_json
from webresearch.web.closing import AsyncClosing
from webresearch.web.snippets import tokenize

__all__ = ["READER_SYSTEM_PROMPT", "ChatModel", "Extract", "KeywordReader", "LLMReader",
           "ReadRequest", "Reader", "ReaderSource", "parse_extract", "reader_prompt"]


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


class Reader(AsyncClosing, abc.ABC):
    """Reads page segments for the env's browse tool (``WebResearchEnv(reader=...)``).

    Implementations return failures as ``Extract.error`` and raise only for bugs. A
    reader is an async context manager; :meth:`aclose` is idempotent.
    """

    name: str = "reader"

    @abc.abstractmethod
    async def read(self, request: ReadRequest) -> Extract:
        """Extract what in ``request.segment`` bears on the question."""


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


READER_SYSTEM_PROMPT = (
    "You read web pages for a researcher, one segment at a time. Given the question, the "
    "sub-question the page was found for, what earlier readings extracted, and one segment "
    "of the page, extract every piece of information in the segment that helps answer the "
    "question, word for word where it matters (names, dates, numbers). Then decide whether "
    "the next segment of the page is worth reading. Answer with one JSON object and nothing "
    'else: {"information": "<the relevant information, or an empty string>", '
    '"page_down": <true to read the next segment, else false>, '
    '"summary": "<one sentence on what this segment is about>"}'
)
"""The reader's instructions (the shape of DeepResearcher's; the words are ours)."""


def reader_prompt(request: ReadRequest) -> tuple[ChatMessage, ...]:
    """The chat messages that ask a model to read ``request``'s segment.

    Example:
        >>> request = ReadRequest("Q?", "q", ("earlier",), "https://a.test/", "A", 1, 3, "text")
        >>> print(reader_prompt(request)[1]["content"])  # doctest: +ELLIPSIS
        Question: Q?
        Sub-question: q
        Extracted so far:
        - earlier
        Page: A (https://a.test/), segment 2 of 3
        ...
    """
    memory = "\n".join(f"- {m}" for m in request.memory) or "(nothing yet)"
    user = (f"Question: {request.question}\nSub-question: {request.sub_question or '(none)'}\n"
            f"Extracted so far:\n{memory}\n"
            f"Page: {request.title} ({request.url}), segment {request.index + 1} of "
            f"{request.total}\n<segment>\n{request.segment}\n</segment>")
    return ({"role": "system", "content": READER_SYSTEM_PROMPT}, {"role": "user", "content": user})


def parse_extract(text: str) -> Extract:
    """Read the reader model's answer; an unreadable one is an ``Extract`` with ``error``.

    Example:
        >>> extract = parse_extract('ok {"information": "born 1881", "page_down": true}')
        >>> extract.information, extract.page_down, extract.error
        ('born 1881', True, None)
        >>> parse_extract("no idea").error
        "the reader's answer holds no JSON object: 'no idea'"
    """
    found = embedded_object(text)
    if found is None:
        return Extract("", error=f"the reader's answer holds no JSON object: {text[:80]!r}")
    try:
        data = loads_json(found)
    except ValueError:
        return Extract("", error=f"the reader's answer is not valid JSON: {text[:80]!r}")
    if not isinstance(data, dict) or not isinstance(data.get("information", ""), str):
        return Extract("", error=f"the reader's JSON lacks a string 'information': {text[:80]!r}")
    page_down = data.get("page_down", False)
    return Extract(data.get("information", "").strip(),
                   page_down=page_down is True or str(page_down).lower() == "true",
                   summary=str(data.get("summary", "")).strip())


class ChatModel(Protocol):
    """What :class:`LLMReader` calls on a model: any :class:`~webresearch.policies.Policy`."""

    async def generate(self, prompts: Sequence[PromptLike],
                       sampling: SamplingParams | None = None) -> list[Completion]: ...


class LLMReader(Reader):
    """A reader backed by any :class:`~webresearch.policies.Policy`: a local HF model, an
    OpenAI-compatible server, or the training policy itself.

    Readings are cached by (URL, segment, question), so the rollouts of one GRPO group
    reading the same page cost one call (identical concurrent readings share one call);
    calls are rate-limited and each has a deadline. Closing the reader leaves the policy
    open: it may be the training policy, which its owner closes.

    Args:
        policy: The model that reads.
        sampling: How it samples (greedy, 1,024 tokens by default).
        rate: Reader calls per second (``None``: unlimited).
        timeout_s: Deadline of one reading.
        cache_size: Readings kept in memory.
    """

    name = "llm"

    def __init__(self, policy: ChatModel, *, sampling: SamplingParams | None = None,
                 rate: Rate | None = None, timeout_s: float = 120.0,
                 cache_size: int = 50_000) -> None:
        self.policy = policy
        self.sampling = sampling or SamplingParams(temperature=0.0, max_tokens=1024)
        self.limiter = RateLimiter(None, default=rate) if rate is not None else None
        self.timeout_s, self.cache_size = timeout_s, cache_size
        self._cache: OrderedDict[str, Extract] = OrderedDict()
        self._flight: SingleFlight[Extract] = SingleFlight()
        self.calls = 0
        """Model calls made (cache misses)."""

    async def read(self, request: ReadRequest) -> Extract:
        key = request.key
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return replace(cached, tokens=0, from_cache=True)
        extract = await self._flight.run(key, lambda: self._call(request))
        if extract.error is None:
            self._cache[key] = extract
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return extract

    async def _call(self, request: ReadRequest) -> Extract:
        limiter, deadline = self.limiter, time.time() + self.timeout_s
        if limiter is not None and not await limiter.acquire("reader", deadline=deadline):
            return Extract("", error="the reader's rate limit left no slot before the deadline")
        self.calls += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                completion = (await self.policy.generate(
                    [Prompt(reader_prompt(request))], self.sampling))[0]
        except TimeoutError:
            return Extract("", error=f"the reader gave no answer within {self.timeout_s:g} s")
        except WebResearchError as exc:
            return Extract("", error=f"the reader failed: {exc}")
        ids = completion.token_ids
        return replace(parse_extract(completion.text),
                       tokens=len(ids) if ids is not None else len(completion.text) // 4)
