"""A reading agent on any policy backend, with DeepResearcher's extraction prompt shape."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from webresearch.errors import WebResearchError
from webresearch.net.rate_limit import Rate, RateLimiter
from webresearch.net.single_flight import SingleFlight
from webresearch.policies.types import ChatMessage, Prompt, SamplingParams
from webresearch.untrusted import embedded_object, loads_json
from webresearch.web.reader import Extract, Reader, ReadRequest

if TYPE_CHECKING:
    from webresearch.policies.policy import Policy

__all__ = ["READER_SYSTEM_PROMPT", "LLMReader", "parse_extract", "reader_prompt"]

"""Reader kinds the command line builds (``--reader``)."""

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

    def __init__(self, policy: Policy, *, sampling: SamplingParams | None = None,
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
            return Extract(cached.information, cached.page_down, cached.summary, 0, True)
        extract = await self._flight.run(key, lambda: self._call(request))
        if extract.error is None:
            self._cache[key] = extract
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return extract

    async def _call(self, request: ReadRequest) -> Extract:
        deadline = time.time() + self.timeout_s
        if self.limiter is not None and not await self.limiter.acquire("reader",
                                                                      deadline=deadline):
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
        extract = parse_extract(completion.text)
        tokens = (len(completion.token_ids) if completion.token_ids is not None
                  else len(completion.text) // 4)
        return Extract(extract.information, extract.page_down, extract.summary, tokens,
                       error=extract.error)
