"""Search-R1's format: ``<search>query</search>``, results in ``<information>``, ``<answer>``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from webresearch.envs.formats.action_format import Action, ActionFormat, Answer, Invalid, ToolCall
from webresearch.web.backend import SearchResults

__all__ = ["SearchR1Format"]

_TAGS = ("search", "answer")


def first_action(text: str) -> tuple[str, str] | None:
    """The first ``<search>...</search>`` or ``<answer>...</answer>``: its tag and content.

    As ``re.search(r"<(search|answer)>(.*?)</\\1>", text, re.DOTALL)`` finds it (the
    leftmost opening tag that a closing tag of its kind follows, up to the first such
    closing tag), in linear time: that regex is quadratic on ``"<search>" * n``.

    Example:
        >>> first_action("<search>a<answer>b</answer></search>")
        ('search', 'a<answer>b</answer>')
        >>> first_action("<search>" * 3 + "<answer>x</answer>")
        ('answer', 'x')
        >>> first_action("<search>open") is None
        True
    """
    found: tuple[int, str] | None = None
    for tag in _TAGS:
        opening, last_close = f"<{tag}>", text.rfind(f"</{tag}>")
        start = text.find(opening)  # an opening tag counts only if a closing one follows it
        if start != -1 and start + len(opening) <= last_close and (
                found is None or start < found[0]):
            found = (start, tag)
    if found is None:
        return None
    start, tag = found
    begin = start + len(tag) + 2
    return tag, text[begin:text.find(f"</{tag}>", begin)]


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
        action = first_action(text)
        if action is None:
            return Invalid("put a query between <search> and </search>, or the final answer "
                           "between <answer> and </answer>")
        kind, content = action[0], action[1].strip()
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
