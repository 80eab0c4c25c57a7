"""What a model takes and gives: chat messages, prompts, sampling settings, completions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

__all__ = ["ChatMessage", "Completion", "Prompt", "PromptLike", "SamplingParams", "as_prompt"]


class ChatMessage(TypedDict):
    """One chat message, as chat templates and OpenAI-compatible servers take it."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a policy continues: the conversation, and its token ids when a tokenizer built them.

    Token-level backends (HF, vLLM) continue ``token_ids`` as they are, never
    re-tokenising the conversation; text-level ones (OpenAI-compatible chat servers,
    scripted policies) read ``messages``.
    """

    messages: tuple[ChatMessage, ...]
    token_ids: tuple[int, ...] | None = None


PromptLike = Prompt | Sequence[ChatMessage]
"""A :class:`Prompt`, or just the conversation."""


def as_prompt(prompt: PromptLike) -> Prompt:
    """Wrap a bare conversation as a :class:`Prompt`.

    Example:
        >>> as_prompt([{"role": "user", "content": "hi"}]).token_ids is None
        True
    """
    return prompt if isinstance(prompt, Prompt) else Prompt(tuple(prompt))


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingParams:
    """How to sample a completion."""

    temperature: float = 1.0
    """Softmax temperature; 0 is greedy."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_tokens: int = 1024
    """Longest completion, in tokens."""
    stop: tuple[str, ...] = ("</tool_call>", "</answer>", "</search>")
    """Strings that end a completion (kept in the text)."""
    seed: int | None = None
    """Sampling seed, where the backend supports one."""


@dataclass(frozen=True, slots=True)
class Completion:
    """What a policy produced for one conversation.

    Attributes:
        text: The completion text (the env action).
        token_ids: The sampled token ids, when the backend has a tokenizer.
        logprobs: The log-probability of each sampled token, aligned with ``token_ids``.
        finish_reason: ``"stop"``, ``"length"``, or the backend's own reason.
    """

    text: str
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    finish_reason: str = "stop"
