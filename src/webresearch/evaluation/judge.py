"""Model-based evaluation: an LLM judge decides whether an answer matches the gold aliases."""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webresearch.envs.rewards import exact_match
from webresearch.errors import WebResearchError
from webresearch.evaluation.verdict_cache import CachedVerdict, VerdictCache
from webresearch.net.secrets import redact
from webresearch.replay.verdicts import JudgeIdentity, public_url, sha256_text
from webresearch.untrusted import embedded_object, loads_json

__all__ = ["JUDGE_PROMPT", "PROMPT_ID", "Judge", "JudgeError", "Judgement", "OpenAIJudge",
           "judge_prompt", "parse_judgement", "verdict_key"]

JUDGE_PROMPT = """You are grading an answer to a question against its gold answers.

Question: {question}
Gold answers (any one is correct): {golds}
Answer to grade: {answer}

The answer is correct if it means the same as any gold answer (the same entity, date,
number or fact, allowing different wording, abbreviations and added detail that does
not contradict it); otherwise it is incorrect. Reply with JSON only:
{{"rationale": "<one sentence>", "judgement": "correct" or "incorrect"}}"""
"""DeepResearcher's judging criteria: semantic equivalence to any gold alias."""
PROMPT_ID = "deepresearcher-mbe-v1"
"""The name of :data:`JUDGE_PROMPT` in a verdict's record (its SHA-256 goes beside it)."""
_TEMPERATURE, _TOP_P, _MAX_TOKENS = 0.0, 1.0, 256
"""The sampling settings of every judge call (greedy, one short JSON reply)."""



class JudgeError(WebResearchError):
    """The judge could not be reached or its verdict could not be read."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict: correct or not, why, and whether it came without asking (exact match, cache)."""

    correct: bool
    rationale: str = ""
    source: str = "judge"
    """``exact`` (no judge asked), ``cache`` or ``judge``."""
    prompt: str | None = None
    """The full prompt the judge was (or, for a cached verdict, had been) asked."""
    reply: str | None = None
    """The judge's reply text, when it was asked this time."""


def parse_judgement(text: str) -> Judgement:
    """Read the judge's JSON verdict; raise :class:`JudgeError` when there is none.

    Example:
        >>> parse_judgement('Sure. {"rationale": "same person", "judgement": "correct"}').correct
        True
        >>> parse_judgement("I think so")
        Traceback (most recent call last):
        ...
        webresearch.evaluation.judge.JudgeError: Expects a JSON verdict ... actual: 'I think so'
    """
    found = embedded_object(text)  # linear: the regex r"\{.*\}" was quadratic on "{" * n
    try:
        data = loads_json(found) if found is not None else None
    except ValueError:
        data = None
    verdict = str(data.get("judgement", "")).strip().lower() if isinstance(data, dict) else ""
    if verdict not in ("correct", "incorrect"):
        raise JudgeError("Expects a JSON verdict with \"judgement\": \"correct\" or "
                         f"\"incorrect\", actual: {text[:200]!r}")
    assert isinstance(data, dict)
    return Judgement(verdict == "correct", str(data.get("rationale", "")))


def verdict_key(judge: str, question: str, answer: str, golds: Sequence[str]) -> str:
    """The cache key of a verdict: the same judge (its :attr:`JudgeIdentity.key`), question,
    answer and golds, one call."""
    return hashlib.sha256(json.dumps([judge, question, answer, list(golds)]).encode()).hexdigest()


def judge_prompt(question: str, answer: str, golds: Sequence[str]) -> str:
    """The judge's full prompt for one answer (:data:`JUDGE_PROMPT` filled in)."""
    return JUDGE_PROMPT.format(question=question, golds=json.dumps(list(golds)), answer=answer)


class Judge(abc.ABC):
    """Decides correctness; an exact match (DeepResearcher's normalisation) skips the call.

    Its :attr:`identity` is recorded with every verdict; a verdict recorded under another
    identity is never reused for this judge.
    """

    @property
    def identity(self) -> JudgeIdentity:
        """Who this judge is (by default its class, with this module's prompt template)."""
        return JudgeIdentity(model=f"{type(self).__module__}.{type(self).__qualname__}",
                             prompt_id=PROMPT_ID, prompt_sha256=sha256_text(JUDGE_PROMPT))

    async def judge(self, question: str, answer: str, golds: Sequence[str]) -> Judgement:
        if exact_match(answer, golds):
            return Judgement(True, "exact match", "exact")
        return await self._judge(question, answer, golds)

    @abc.abstractmethod
    async def _judge(self, question: str, answer: str, golds: Sequence[str]) -> Judgement:
        """Ask the judge."""

    async def aclose(self) -> None:  # noqa: B027 - nothing to release by default
        """Release resources."""


class OpenAIJudge(Judge):
    """A judge behind any OpenAI-compatible chat endpoint, with retries and a disk cache.

    Args:
        base_url: The API root, e.g. ``https://api.openai.com/v1`` or a local vLLM.
        model: The judge model (the paper used ``gpt-4o-mini``).
        api_key: Bearer token; ``None`` reads ``$OPENAI_API_KEY``.
        cache_dir: Where verdicts are kept (same question, answer, golds, model: one call),
            as JSON text that is never unpickled (:class:`VerdictCache`).
        attempts: Tries per verdict, parse failures included.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 cache_dir: str | Path | None = None, attempts: int = 3) -> None:
        from webresearch.policies.openai_compat import OpenAIPolicy  # noqa: PLC0415

        self.model = model
        self.attempts = attempts
        self._client = OpenAIPolicy(base_url, model, api_key=api_key)
        self._cache = VerdictCache(cache_dir) if cache_dir is not None else None
        self._identity = self.identity_of(base_url, model)

    @property
    def identity(self) -> JudgeIdentity:
        """The model, the server without secrets, the sampling settings and the prompt."""
        return self._identity

    @staticmethod
    def identity_of(base_url: str, model: str) -> JudgeIdentity:
        """The identity of this judge class with ``model`` at ``base_url`` (no connection).

        Example:
            >>> OpenAIJudge.identity_of("http://user:pw@127.0.0.1:8000/v1/", "m").base_url
            'http://127.0.0.1:8000/v1'
        """
        return JudgeIdentity(model=model, base_url=public_url(base_url), temperature=_TEMPERATURE,
                             top_p=_TOP_P, max_tokens=_MAX_TOKENS, prompt_id=PROMPT_ID,
                             prompt_sha256=sha256_text(JUDGE_PROMPT))

    async def _judge(self, question: str, answer: str, golds: Sequence[str]) -> Judgement:
        from webresearch.policies.policy import SamplingParams  # noqa: PLC0415

        prompt = judge_prompt(question, answer, golds)
        key = verdict_key(self._identity.key, question, answer, golds)
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            return Judgement(hit.correct, hit.rationale, "cache", prompt)
        sampling = SamplingParams(temperature=_TEMPERATURE, top_p=_TOP_P, max_tokens=_MAX_TOKENS,
                                  stop=())
        error: JudgeError | None = None
        for _ in range(self.attempts):
            try:
                (completion,) = await self._client.generate(
                    [[{"role": "user", "content": prompt}]], sampling)
                verdict = parse_judgement(completion.text)
            except JudgeError as exc:
                error = exc
                continue
            except WebResearchError as exc:
                raise JudgeError(f"the judge at {self._client.base_url} failed: {exc}") from exc
            if self._cache is not None:
                self._cache.put(key, CachedVerdict(verdict.correct, verdict.rationale))
            return Judgement(verdict.correct, verdict.rationale, "judge", prompt,
                             redact(completion.text))  # recorded: no echoed key
        assert error is not None
        raise error

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._cache is not None:
            self._cache.close()
