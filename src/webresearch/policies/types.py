"""What crosses the policy interface, defined in the basics layer (:mod:`webresearch.chat`)."""

from __future__ import annotations

from webresearch.chat import ChatMessage, Completion, Prompt, PromptLike, SamplingParams, as_prompt

__all__ = ["ChatMessage", "Completion", "Prompt", "PromptLike", "SamplingParams", "as_prompt"]
