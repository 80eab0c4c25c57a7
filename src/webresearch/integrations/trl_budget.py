"""How one TRL completion's tokens are shared between the model's turns and the tool results.

TRL puts a whole episode (every model turn and every tool result) into one completion of
at most ``max_completion_length`` tokens, and drops a tool result that would not fit
without telling the model or the reward. So the adapter sizes each result to the budget
first: :class:`CompletionBudget` says how many tokens a result may take, and
:class:`TokenCounter` cuts a result to that many, saying so in the text.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from webresearch.errors import ConfigError

__all__ = ["TRL_DEFAULT_COMPLETION_LENGTH", "CompletionBudget", "TokenCounter", "result_share"]

TRL_DEFAULT_COMPLETION_LENGTH = 512
"""``GRPOConfig.max_completion_length`` unless set (TRL 1.16)."""

MIN_RESULT_TOKENS = 32
"""The fewest tokens a tool result may be given: a few of the result, and the note that
says it was cut."""

_PROBE = "\x00RESULT\x00"


def result_share(length: int, tool_calls: int, *, turn_tokens: int, overhead_tokens: int) -> int:
    """Each tool result's equal share of a ``length``-token completion (at least the minimum).

    Example:
        >>> result_share(512, 4, turn_tokens=48, overhead_tokens=16)
        52
        >>> result_share(64, 4, turn_tokens=48, overhead_tokens=16)
        32
    """
    model = (tool_calls + 1) * turn_tokens
    share = (length - model - tool_calls * overhead_tokens) // max(1, tool_calls)
    return max(MIN_RESULT_TOKENS, share)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CompletionBudget:
    """One completion's tokens: the model's turns first, what is left for tool results.

    Each result may take an equal share of what the results have not yet used, so a
    short early result leaves more for the later ones.

    Example:
        >>> budget = CompletionBudget(tool_calls=4)
        >>> budget.result_tokens  # 512 - 5 turns x 48 - 4 results x 16 of template
        208
        >>> budget.allowance(used=0, calls_made=0), budget.allowance(used=10, calls_made=1)
        (52, 66)
    """

    max_completion_length: int = TRL_DEFAULT_COMPLETION_LENGTH
    """The trainer's completion budget in tokens (``GRPOConfig.max_completion_length``)."""
    tool_calls: int
    """The most tool results one episode holds (its tool-call budget)."""
    turn_tokens: int = 48
    """Tokens kept for each of the model's turns (each call and the answer); raise it
    for a model that thinks at length before it calls a tool."""
    overhead_tokens: int = 16
    """Chat-template tokens around each tool result."""

    def __post_init__(self) -> None:
        if self.tool_calls < 1 or self.turn_tokens < 1 or self.overhead_tokens < 0:
            raise ConfigError(f"Expects tool_calls >= 1, turn_tokens >= 1 and overhead_tokens "
                              f">= 0, actual: {self.tool_calls}, {self.turn_tokens}, "
                              f"{self.overhead_tokens}")
        if self.result_tokens // self.tool_calls < MIN_RESULT_TOKENS:
            least = (self.max_completion_length - self.result_tokens
                     + MIN_RESULT_TOKENS * self.tool_calls)
            raise ConfigError(
                f"Expects max_completion_length >= {least} for {self.tool_calls} tool calls of "
                f"{self.turn_tokens} model tokens each and {MIN_RESULT_TOKENS} tokens per tool "
                f"result, actual: {self.max_completion_length} (raise it, or lower max_turns)")

    @property
    def result_tokens(self) -> int:
        """Tokens left for the tool results of one episode, all together."""
        model = (self.tool_calls + 1) * self.turn_tokens
        return self.max_completion_length - model - self.tool_calls * self.overhead_tokens

    def allowance(self, *, used: int, calls_made: int) -> int:
        """Tokens the next result may take, after ``calls_made`` results took ``used``."""
        left = max(1, self.tool_calls - calls_made)
        return max(0, (self.result_tokens - used) // left)


class TokenCounter:
    """Counts and cuts text in a tokenizer's tokens (or, without one, an estimate).

    Args:
        tokenizer: A Hugging Face tokenizer; ``None`` counts ``chars_per_token``
            characters a token, a cautious figure for web text.
        chars_per_token: The estimate without a tokenizer.

    Example:
        >>> counter = TokenCounter(chars_per_token=2.0)
        >>> counter.count("abcdef")
        3
        >>> text, shown = counter.fit("word " * 100, 30)
        >>> shown <= 30, text.endswith("of 250 tokens shown]")
        (True, True)
    """

    def __init__(self, tokenizer: Any = None, *, chars_per_token: float = 1.5) -> None:
        if chars_per_token <= 0:
            raise ConfigError(f"Expects chars_per_token > 0, actual: {chars_per_token}")
        self.tokenizer = tokenizer
        self.chars_per_token = chars_per_token

    def count(self, text: str) -> int:
        """Tokens in ``text``."""
        if self.tokenizer is None:
            return math.ceil(len(text) / self.chars_per_token)
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def fit(self, text: str, tokens: int) -> tuple[str, int]:
        """``text`` cut to at most ``tokens`` tokens, with a note that says so; and its count."""
        total = self.count(text)
        if total <= tokens:
            return text, total
        note = f"\n[cut: {{}} of {total} tokens shown]"
        room = tokens - self.count(note.format(total))
        if room < 0:
            return "[cut]", self.count("[cut]")
        low, high = 0, len(text)  # the longest prefix that fits in ``room``
        while low < high:
            middle = (low + high + 1) // 2
            if self.count(text[:middle]) <= room:
                low = middle
            else:
                high = middle - 1
        shown = self.count(text[:low])
        cut = text[:low] + note.format(shown)
        return cut, self.count(cut)

    def template_overhead(self) -> int:
        """Tokens the chat template puts around a tool result (TRL's own measure, plus one)."""
        render = getattr(self.tokenizer, "apply_chat_template", None)
        if render is None or getattr(self.tokenizer, "chat_template", None) is None:
            return CompletionBudget.overhead_tokens
        call = [{"type": "function", "function": {"name": "web_search", "arguments": {}}}]
        head = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": call}]
        before = render(head, tokenize=False)
        after = render([*head, {"role": "tool", "name": "web_search", "content": _PROBE}],
                       tokenize=False, add_generation_prompt=True)
        around = after[len(before):].replace(_PROBE, "")
        return self.count(around) + 1
