"""Tools called by name, for frameworks that parse the model's tool calls themselves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webresearch.envs.formats import ActionFormat, Invalid, ToolCall
from webresearch.envs.formats.action_format import string_list
from webresearch.errors import did_you_mean

__all__ = ["DirectTools"]


class DirectTools:
    """The tool names a framework may call, each mapped to the env's tool and its one
    argument: the format's schema names (``web_search``, ``browse_webpage``) and the
    env's own (``search``, ``browse``).

    Example:
        >>> from webresearch.envs.formats import get_format
        >>> tools = DirectTools(get_format("deepresearcher"))
        >>> tools.resolve("web_search", {"query": ["a", "b"]})
        ToolCall(tool='search', arguments=('a', 'b'), note='')
        >>> tools.resolve("web_serch", {"query": ["a"]})
        Invalid(message="unknown tool 'web_serch'. Did you mean 'web_search'?")
    """

    def __init__(self, fmt: ActionFormat) -> None:
        self.table = {tool: (tool, "query" if tool == "search" else "url_list")
                      for tool in fmt.tools}
        schemas = fmt.tool_schemas()
        if len(schemas) == len(fmt.tools):
            for tool, schema in zip(fmt.tools, schemas, strict=True):
                function = schema["function"]
                self.table[function["name"]] = (tool, function["parameters"]["required"][0])

    def resolve(self, name: str, arguments: Mapping[str, Any]) -> ToolCall | Invalid:
        """The call ``name(arguments)`` means, or why it means none (for the agent)."""
        if not isinstance(name, str):
            return Invalid(f"a tool name must be text, not {type(name).__name__}")
        if name not in self.table:
            return Invalid(f"unknown tool {name!r}.{did_you_mean(name, self.table)}".rstrip("."))
        tool, field = self.table[name]
        if not isinstance(arguments, Mapping):
            return Invalid(f"the arguments must be a JSON object, not {type(arguments).__name__}")
        values = string_list(arguments.get(field), field=field)
        return values if isinstance(values, Invalid) else ToolCall(tool, values)
