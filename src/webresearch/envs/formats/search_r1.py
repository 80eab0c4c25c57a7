"""Search-R1's format: ``<search>query</search>``, results in ``<information>``, ``<answer>``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from webresearch.envs.formats.base import Action, ActionFormat, Answer, Invalid, ToolCall
from webresearch.web.base import SearchResults

__all__ = ["SearchR1Format"]

_ACTION = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)


class SearchR1Format(ActionFormat):
    """Search-R1's action format (arXiv 2503.09516): the first ``<search>`` or ``<answer>`` counts.

    Example:
        >>> fmt = SearchR1Format()
        >>> fmt.parse("<think>hmm</think><search> capital of France </search>")
        ToolCall(tool='search', arguments=('capital of France',), note='')
        >>> fmt.parse("no tags").message.startswith("put a query between <search> and </search>")
        True
    """

    name: ClassVar[str] = "search-r1"
    default_reward: ClassVar[str] = "search-r1"
    tools: ClassVar[tuple[str, ...]] = ("search",)

    def parse(self, text: str) -> Action:
        match = _ACTION.search(text)
        if match is None:
            return Invalid("put a query between <search> and </search>, or the final answer "
                           "between <answer> and </answer>")
        kind, content = match.group(1), match.group(2).strip()
        if kind == "answer":
            return Answer(content)
        if not content:
            return Invalid("the <search> query is empty")
        return ToolCall("search", (content,))

    def write_call(self, tool: str, arguments: Sequence[str], *, thought: str = "") -> str:
        if tool != "search":
            raise ValueError(f"the search-r1 format has only a search tool, not {tool!r}")
        return f"<think>{thought}</think>\n<search>{arguments[0]}</search>"

    def wrap(self, body: str) -> str:
        return f"<information>{body}</information>"

    def render_search(self, results: Sequence[SearchResults]) -> str:
        docs = [f"Doc {i}(Title: {hit.title}) {hit.snippet}"
                for r in results for i, hit in enumerate(r.hits, 1)]
        errors = [f"Search failed: {r.error}" for r in results if r.error is not None]
        return "\n".join(docs + errors) or "No results."

    def system_prompt(self, *, date: str, max_turns: int) -> str:
        return ""

    def user_prompt(self, question: str) -> str:
        return (
            "Answer the given question. You must reason inside <think> and </think> first "
            "every time you get new information. If you lack knowledge, you can call a search "
            "engine with <search> query </search>, and it returns the top results between "
            "<information> and </information>. You may search as many times as you want "
            "(up to the tool budget). When you have the answer, give it inside <answer> and "
            "</answer> without further explanation, for example <answer> Beijing </answer>. "
            f"Question: {question}\n"
        )
