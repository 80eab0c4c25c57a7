"""What a step and an episode came to: the typed contract from the env to runners and learners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webresearch.envs.episode import StepTiming
from webresearch.status import ActionKind, EpisodeStatus
from webresearch.web.calls import WebCall
from webresearch.web.leaks import Leak

__all__ = ["ActionKind", "EpisodeOutcome", "StepOutcome"]


@dataclass(frozen=True, slots=True)
class EpisodeOutcome:
    """How an episode ended, scored once, by the env.

    ``status``, ``answer``, ``reward``, ``f1`` and ``em`` never contradict each other:
    an answered episode has its answer and that answer's F1 and EM; one that ended
    without an answer has F1 and EM 0 and the reward's value for no answer (-1 for
    DeepResearcher's).

    Attributes:
        status: How it ended (answered, format_error or truncated: the env's statuses).
        answer: The final answer as the action format parsed it, or ``None``.
        reward: The env's reward for the episode.
        f1: The answer's word-level F1 against the gold aliases (DeepResearcher's).
        em: The answer's exact match.
        error: What ended the episode when it was not an answer.
        tool_calls: Tool calls made.
        queries: Search queries run.
        urls_visited: URLs browsed, without duplicates.
        errors: World failures met and invalid actions, in order.
        cache_hits: Web responses that came from a cache.
        cache_misses: Web responses that did not.
        timings: Each step's timing.
        leaks: Gold answers and the question's own text seen in observations (search
            results, page text shown): the first sighting per kind and URL, with its step.
    """

    status: EpisodeStatus
    answer: str | None
    reward: float
    f1: float
    em: float
    error: str | None = None
    tool_calls: int = 0
    queries: tuple[str, ...] = ()
    urls_visited: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    cache_hits: int = 0
    cache_misses: int = 0
    timings: tuple[StepTiming, ...] = ()
    leaks: tuple[Leak, ...] = ()


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did.

    Attributes:
        action: The kind of action the text was.
        arguments: The queries or URLs of a tool call, or the answer.
        error: Why the action was invalid, or what ended the episode.
        web: The web calls behind the observation.
        timing: Seconds spent parsing and in tools.
        turn: Non-answer steps so far.
        tool_calls: Tool calls so far.
        episode: How the episode ended, on its last step (``None`` before).
    """

    action: ActionKind
    arguments: tuple[str, ...]
    error: str | None
    web: tuple[WebCall, ...]
    timing: StepTiming
    turn: int
    tool_calls: int
    episode: EpisodeOutcome | None = None

    def info(self) -> dict[str, Any]:
        """Gymnasium's ``info``: this outcome under ``"step"`` (and the episode's under
        ``"outcome"`` on the last step), with their fields spelled out for convenience.

        Runners read the typed outcomes; the flat keys are a view of them.
        """
        info: dict[str, Any] = {
            "step": self, "turn": self.turn, "tool_calls": self.tool_calls,
            "timing": self.timing, "action": str(self.action), "arguments": self.arguments,
            "web": self.web, "error": self.error}
        if self.episode is not None:
            e = self.episode
            info.update(outcome=e, status=str(e.status), answer=e.answer, f1=e.f1, em=e.em,
                        queries=list(e.queries), urls_visited=list(e.urls_visited),
                        errors=list(e.errors), cache_hits=e.cache_hits,
                        cache_misses=e.cache_misses, timings=list(e.timings),
                        leaks=list(e.leaks))
        return info
