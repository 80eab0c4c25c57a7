"""How steps and episodes ended: the ``StrEnum``s shared by the env, runners, store and learners."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ActionKind", "EpisodeStatus"]


class ActionKind(StrEnum):
    """What an action was, as the action format parsed it.

    Example:
        >>> ActionKind("search").is_tool
        True
    """

    SEARCH = "search"
    BROWSE = "browse"
    ANSWER = "answer"
    INVALID = "invalid"

    @property
    def is_tool(self) -> bool:
        """Whether the action called a tool."""
        return self in (ActionKind.SEARCH, ActionKind.BROWSE)


class EpisodeStatus(StrEnum):
    """How an episode ended, and whether its reward is a learning signal.

    The first three are the agent's doing and carry a reward; the others mean the
    episode was broken from outside (the clock, the policy's backend, the env or the
    world raised) and carry none: they are recorded, never trained on as a silent 0.

    Example:
        >>> EpisodeStatus("answered").scored, EpisodeStatus.TIMEOUT.scored
        (True, False)
        >>> str(EpisodeStatus.ENV_ERROR)
        'env_error'
    """

    ANSWERED = "answered"
    """The agent gave a final answer."""
    FORMAT_ERROR = "format_error"
    """An action broke the action format and the env ends episodes on that."""
    TRUNCATED = "truncated"
    """The agent used up its tool calls without answering."""
    TIMEOUT = "timeout"
    """The episode passed its deadline."""
    POLICY_ERROR = "policy_error"
    """The policy raised (a dead server, ids without a tokenizer's worth of text)."""
    ENV_ERROR = "env_error"
    """The env, its web backend or its reader raised (a bug, a replay miss)."""

    @property
    def scored(self) -> bool:
        """Whether the agent's behaviour decided the episode, so its reward counts."""
        return self in _SCORED

    @classmethod
    def parse(cls, value: str) -> EpisodeStatus:
        """Read a status as stored; schema 1's catch-all ``error`` is an env error.

        Example:
            >>> EpisodeStatus.parse("error")
            <EpisodeStatus.ENV_ERROR: 'env_error'>
        """
        return cls.ENV_ERROR if value == "error" else cls(value)


_SCORED = frozenset({EpisodeStatus.ANSWERED, EpisodeStatus.FORMAT_ERROR, EpisodeStatus.TRUNCATED})
