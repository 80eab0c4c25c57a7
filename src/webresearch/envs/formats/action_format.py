"""What an action format is: model text to actions, tool results to observation text."""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from webresearch.errors import InputTooDeep
from webresearch.untrusted import loads_json, scalar_text
from webresearch.web.backend import Page, SearchResults

__all__ = ["Action", "ActionFormat", "Answer", "Invalid", "ToolCall"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call to one of the env's tools.

    Attributes:
        tool: ``"search"`` or ``"browse"`` (the env's tools, whatever the format calls them).
        arguments: The queries of a search or the URLs of a browse, in order.
        note: A remark for the observation (for example, extra queries that were dropped).
    """

    tool: str
    arguments: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """The agent's final answer."""

    text: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """An action that could not be parsed; ``message`` tells the agent what was wrong."""

    message: str


Action = ToolCall | Answer | Invalid


class ActionFormat(abc.ABC):
    """Turns the model's text into actions and tool results into observation text.

    Subclasses define the tag grammar (:meth:`parse`), the prompts, and how results
    are wrapped (:meth:`wrap`); rendering of search results and pages is shared.
    """

    name: ClassVar[str]
    default_reward: ClassVar[str]
    tools: ClassVar[tuple[str, ...]]
    """The env tools this format can call (``search``, ``browse``)."""

    @abc.abstractmethod
    def parse(self, text: str) -> Action:
        """Parse the model's full text for one turn; never raises."""

    @abc.abstractmethod
    def wrap(self, body: str) -> str:
        """Wrap a tool result as the observation the model sees next."""

    @abc.abstractmethod
    def system_prompt(self, *, date: str, max_turns: int) -> str:
        """The system prompt: role, date, tools and the format to answer in."""

    @abc.abstractmethod
    def write_call(self, tool: str, arguments: Sequence[str], *, thought: str = "") -> str:
        """Write a tool call the way a model following this format would."""

    def write_answer(self, answer: str, *, thought: str = "") -> str:
        """Write a final answer the way a model following this format would."""
        return f"<think>{thought}</think>\n<answer>{answer}</answer>"

    def user_prompt(self, question: str) -> str:
        """The first user message for ``question``."""
        return question

    def tool_schemas(self) -> list[dict[str, Any]]:
        """OpenAI-style function schemas of the tools, for chat templates."""
        return []

    def invalid_feedback(self, message: str) -> str:
        """The observation for an invalid action when the env lets the agent retry."""
        return self.wrap(f"Invalid action: {message}. Try again.")

    def render_search(self, results: Sequence[SearchResults]) -> str:
        """Render the results of one or more queries."""
        blocks = []
        for result in results:
            if result.error is not None:
                blocks.append(f'Search "{result.query}" failed: {result.error}')
                continue
            if not result.hits:
                blocks.append(f'No results for "{result.query}".')
                continue
            lines = [f'Results for "{result.query}":']
            for rank, hit in enumerate(result.hits, 1):
                lines.append(f"{rank}. {hit.title}\n   URL: {hit.url}\n   {hit.snippet}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def render_page(self, page: Page, segment: str, index: int, total: int) -> str:
        """Render segment ``index`` (0-based) of ``total`` of a fetched page."""
        more = " (browse the same URL again for the next segment)" if index + 1 < total else ""
        return (f"Page: {page.title}\nURL: {page.final_url}\n"
                f"Segment {index + 1} of {total}{more}\n{segment}")

    def render_reading(self, page: Page, extracts: Sequence[str], *, first: int, last: int,
                       total: int, note: str = "") -> str:
        """Render what a reading agent extracted from segments ``first`` to ``last - 1``."""
        read = (f"segment {first + 1}" if last - first == 1
                else f"segments {first + 1}-{last}") + f" of {total}"
        more = " (browse the same URL again to read on)" if last < total else ""
        body = "\n".join(extracts) or "Nothing in them bears on the question."
        return "\n".join(part for part in (
            f"Page: {page.title}\nURL: {page.final_url}",
            f"Read {read}{more}; the relevant information:", body, note) if part)


def loads_object(text: str) -> dict[str, Any] | Invalid:
    """Parse a JSON object (every string in it scalar text), or say why it is not one.

    Example:
        >>> loads_object('{"a": 1}'), loads_object("[1]")
        ({'a': 1}, Invalid(message='the tool call must be a JSON object, not list'))
    """
    try:
        value = loads_json(text)
    except json.JSONDecodeError as exc:
        return Invalid(f"the tool call is not valid JSON ({exc.msg})")
    except InputTooDeep:
        return Invalid("the tool call is not valid JSON (too deeply nested)")
    except ValueError as exc:  # a number too long to read, and its like
        return Invalid(f"the tool call is not valid JSON ({str(exc).split(':')[0]})")
    if not isinstance(value, dict):
        return Invalid(f"the tool call must be a JSON object, not {type(value).__name__}")
    return value


def string_list(value: Any, *, field: str) -> tuple[str, ...] | Invalid:
    """Read a string or a list of strings; say why when it is neither, or empty.

    Example:
        >>> string_list([" a ", "b"], field="query"), string_list([], field="query")
        (('a', 'b'), Invalid(message="'query' is empty"))
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return Invalid(f"'{field}' must be a string or a list of strings")
    cleaned = tuple(scalar_text(i.strip()) for i in items if i.strip())
    return cleaned or Invalid(f"'{field}' is empty")
