"""Token in, token out: an episode's token sequence, built turn by turn, never re-tokenised.

Re-tokenising a whole conversation after the fact can give other ids than the ones
the policy sampled (a word split differently at a turn boundary), and training on
them then computes ratios for tokens the policy never chose. The assembler keeps the
sampled ids exactly and adds only the template's text around each observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webresearch.policies.policy import ChatMessage

__all__ = ["TokenAssembler"]

_SENTINELS = ("\x00ASSISTANT\x00", "\x00OBSERVATION\x00")


class TokenAssembler:
    """Build ``ids``, ``mask`` (1 = sampled by the policy) and ``logprobs`` for one episode.

    Args:
        tokenizer: A Hugging Face tokenizer with a chat template.
        tools: Tool schemas for the template's system turn, if it renders them.
        observation_role: The role observations come back in (``user`` for ChatML's
            ``<tool_response>`` convention, or ``tool``).
    """

    def __init__(self, tokenizer: Any, *, tools: Sequence[dict[str, Any]] | None = None,
                 observation_role: str = "user") -> None:
        self.tokenizer = tokenizer
        self.tools = list(tools) if tools else None
        self.ids: list[int] = []
        self.mask: list[int] = []
        self.logprobs: list[float] = []
        """Log-probs of the sampled ids (0.0 where the mask is 0, or where missing)."""
        self.missing_logprobs = False
        """Whether some completion came without log-probs."""
        self._after_action, self._after_observation = self._delimiters(observation_role)
        self._end_of_turn = tokenizer.eos_token or ""
        self._end_of_turn_id = tokenizer.eos_token_id

    def _render(self, messages: Sequence[ChatMessage | dict[str, str]], *, generate: bool) -> str:
        text: str = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], tools=self.tools, tokenize=False,
            add_generation_prompt=generate)
        return text

    def _delimiters(self, role: str) -> tuple[str, str]:
        """The template's text between an action and an observation, and after it."""
        action, observation = _SENTINELS
        text = self._render([{"role": "user", "content": "q"},
                             {"role": "assistant", "content": action},
                             {"role": role, "content": observation}], generate=True)
        start, middle = text.index(action) + len(action), text.index(observation)
        return text[start:middle], text[middle + len(observation):]

    def _encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    def start(self, messages: Sequence[ChatMessage]) -> tuple[int, ...]:
        """Begin with the prompt (system and question), ending in the generation prompt."""
        ids = self._encode(self._render(messages, generate=True))
        self.ids, self.mask, self.logprobs = list(ids), [0] * len(ids), [0.0] * len(ids)
        self.missing_logprobs = False
        return tuple(self.ids)

    def add_completion(self, token_ids: Sequence[int],
                       logprobs: Sequence[float] | None = None) -> None:
        """Append the ids the policy sampled (mask 1) and their log-probabilities."""
        if logprobs is not None and len(logprobs) != len(token_ids):
            raise ValueError(f"Expects one log-prob per token, actual: {len(logprobs)} for "
                             f"{len(token_ids)} tokens")
        self.ids += token_ids
        self.mask += [1] * len(token_ids)
        self.logprobs += logprobs if logprobs is not None else [0.0] * len(token_ids)
        self.missing_logprobs |= logprobs is None and len(token_ids) > 0

    def sampled_logprobs(self) -> tuple[float, ...] | None:
        """The sequence's log-probs, or ``None`` when any sampled token's is missing (a
        learner then recomputes them; a made-up 0.0 would skew its ratios)."""
        return None if self.missing_logprobs else tuple(self.logprobs)

    def add_observation(self, text: str) -> tuple[int, ...]:
        """Append the turn's end, the observation and the next generation prompt (mask 0)."""
        delta = self._after_action + text + self._after_observation
        ended = self.ids and self.mask[-1] == 1 and self.ids[-1] == self._end_of_turn_id
        if ended and self._end_of_turn and delta.startswith(self._end_of_turn):
            delta = delta[len(self._end_of_turn):]  # the policy already closed its turn
        ids = self._encode(delta)
        self.ids += ids
        self.mask += [0] * len(ids)
        self.logprobs += [0.0] * len(ids)
        return tuple(self.ids)
