"""DeepResearcher's format: ``<think>``, then a JSON ``<tool_call>`` or an ``<answer>``."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from webresearch.envs.formats.action_format import (
    Action,
    ActionFormat,
    Answer,
    Invalid,
    ToolCall,
    loads_object,
    string_list,
)
from webresearch.errors import did_you_mean

__all__ = ["DeepResearcherFormat", "tag_error"]

_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_CHECKED_TAGS = ("tool_call", "think", "answer")
_TOOLS = {"web_search": ("search", "query"), "browse_webpage": ("browse", "url_list")}

_SCHEMAS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "web_search",
        "description": "Search the web; returns the title, URL and a snippet of each result.",
        "parameters": {"type": "object", "required": ["query"], "properties": {"query": {
            "type": "array", "items": {"type": "string"},
            "description": "One to three search queries, run together."}}}}},
    {"type": "function", "function": {
        "name": "browse_webpage",
        "description": "Read web pages; browsing a URL again returns its next segment.",
        "parameters": {"type": "object", "required": ["url_list"], "properties": {"url_list": {
            "type": "array", "items": {"type": "string"},
            "description": "URLs to read, for example from search results."}}}}},
]


def tag_error(lowered: str) -> str | None:
    """Why DeepResearcher's tag check fails on lower-cased text, or ``None`` when it passes.

    For each of ``tool_call``, ``think`` and ``answer``: as many closing tags as
    opening ones, and, scanning from the left, a closing tag after each opening one
    that follows the last closing tag found.

    Example:
        >>> tag_error("<think>a</think><answer>b</answer>") is None
        True
        >>> tag_error("<answer>b</answer><think>")
        'unbalanced <think> tags (1 opened, 0 closed)'
        >>> tag_error("</think><think>")
        'a <think> opens with no </think> after it'
    """
    for tag in _CHECKED_TAGS:
        opening, closing = f"<{tag}>", f"</{tag}>"
        opened, closed = lowered.count(opening), lowered.count(closing)
        if opened != closed:
            return f"unbalanced <{tag}> tags ({opened} opened, {closed} closed)"
        position = -1
        while (begin := lowered.find(opening, position + 1)) != -1:
            position = lowered.find(closing, begin)
            if position == -1:
                return f"a <{tag}> opens with no </{tag}> after it"
    return None


class _Lowered:
    """A text lower-cased for finding tags, and the way back to the text as written."""

    __slots__ = ("_offsets", "source", "text")

    def __init__(self, source: str) -> None:
        self.source = source
        self.text = source.lower()
        self._offsets: list[int] | None = None  # lowered index -> source index, when needed

    def original(self, span: tuple[int, int]) -> str:
        """The source text behind ``span`` of the lowered text."""
        if len(self.text) == len(self.source):  # every character lowered to one character
            return self.source[span[0]:span[1]]
        if self._offsets is None:  # rare: a character such as 'İ' lowered to two
            self._offsets = [i for i, c in enumerate(self.source) for _ in c.lower()]
            self._offsets.append(len(self.source))
        return self.source[self._offsets[span[0]]:self._offsets[span[1]]]


class DeepResearcherFormat(ActionFormat):
    """DeepResearcher's action format (arXiv 2504.03160), with its grammar exactly.

    Tags are found case-insensitively (DeepResearcher's scorer lower-cases the whole
    response first). A turn whose ``think``, ``tool_call`` or ``answer`` tags do not
    each close as often as they open, each after it opens, breaks the format. Otherwise
    the first ``<answer>`` ends the episode, even beside a tool call (DeepResearcher
    checks for an answer first); else the first ``<tool_call>`` runs.

    Example:
        >>> fmt = DeepResearcherFormat()
        >>> fmt.parse('<think>look</think><tool_call>{"name": "web_search", '
        ...           '"arguments": {"query": ["a", "b"]}}</tool_call>')
        ToolCall(tool='search', arguments=('a', 'b'), note='')
        >>> fmt.parse("<think>done</think><ANSWER>Paris</ANSWER>")
        Answer(text='Paris')
        >>> fmt.parse("<think>a</think><answer>b</answer></think><think>").message
        'a <think> opens with no </think> after it'
        >>> print(fmt.parse('<tool_call>{"name": "web_serch"}</tool_call>').message[-27:])
        Did you mean 'web_search'?
    """

    name: ClassVar[str] = "deepresearcher"
    default_reward: ClassVar[str] = "deepresearcher"
    tools: ClassVar[tuple[str, ...]] = ("search", "browse")

    def parse(self, text: str) -> Action:
        lowered = _Lowered(text)
        error = tag_error(lowered.text)
        if error is not None:
            return Invalid(error)
        answer = _ANSWER.search(lowered.text)
        if answer is not None:
            return Answer(lowered.original(answer.span(1)).strip())
        calls = list(_TOOL_CALL.finditer(lowered.text))
        if not calls:
            return Invalid("expected <tool_call>{...}</tool_call> or <answer>...</answer>")
        action = self._parse_call(lowered.original(calls[0].span(1)))
        if len(calls) > 1 and isinstance(action, ToolCall):
            note = f"Only the first of the {len(calls)} tool calls ran: make one per turn."
            return ToolCall(action.tool, action.arguments, note=note)
        return action

    def _parse_call(self, body: str) -> Action:
        call = loads_object(body.strip())
        if isinstance(call, Invalid):
            return call
        name = call.get("name")
        if not isinstance(name, str) or name not in _TOOLS:
            names = sorted(_TOOLS)
            hint = did_you_mean(name, names) if isinstance(name, str) else ""
            return Invalid(f"unknown tool {name!r}; the tools are {names}.{hint}".rstrip("."))
        arguments = call.get("arguments", {})
        if isinstance(arguments, str):  # OpenAI style: arguments as a JSON string
            arguments = loads_object(arguments)
            if isinstance(arguments, Invalid):
                return Invalid(arguments.message.replace("tool call", "'arguments'"))
        if not isinstance(arguments, dict):
            return Invalid("'arguments' must be a JSON object")
        tool, field = _TOOLS[name]
        alias = "url" if tool == "browse" else "queries"
        values = string_list(arguments.get(field, arguments.get(alias)), field=field)
        return values if isinstance(values, Invalid) else ToolCall(tool, values)

    def write_call(self, tool: str, arguments: Sequence[str], *, thought: str = "") -> str:
        name = {"search": "web_search", "browse": "browse_webpage"}[tool]
        field = _TOOLS[name][1]
        call = json.dumps({"name": name, "arguments": {field: list(arguments)}})
        return f"<think>{thought}</think>\n<tool_call>{call}</tool_call>"

    def wrap(self, body: str) -> str:
        return f"<tool_response>\n{body}\n</tool_response>"

    def tool_schemas(self) -> list[dict[str, Any]]:
        copy: list[dict[str, Any]] = json.loads(json.dumps(_SCHEMAS))
        return copy  # a fresh copy the caller may change

    def system_prompt(self, *, date: str, max_turns: int) -> str:
        tools = "\n".join(json.dumps(s["function"]) for s in _SCHEMAS)
        return (
            "You are a research assistant who answers questions by searching the web and "
            f"reading pages. Today is {date}.\n\n"
            "Before every action, reason inside <think>...</think>. Then either call one "
            "tool inside <tool_call>...</tool_call> as JSON of the form "
            '{"name": <tool name>, "arguments": <arguments>}, or give your final, short '
            "answer inside <answer>...</answer>.\n"
            f"You may make at most {max_turns} tool calls. Results come back inside "
            "<tool_response>...</tool_response>.\n\n"
            f"<tools>\n{tools}\n</tools>"
        )
