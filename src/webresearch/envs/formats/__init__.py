"""Action formats: how model text becomes tool calls and answers."""

from __future__ import annotations

from webresearch.envs.formats.action_format import Action, ActionFormat, Answer, Invalid, ToolCall
from webresearch.envs.formats.deepresearcher import DeepResearcherFormat
from webresearch.envs.formats.search_r1 import SearchR1Format
from webresearch.errors import unknown_name_error

__all__ = [
    "FORMATS",
    "Action",
    "ActionFormat",
    "Answer",
    "DeepResearcherFormat",
    "Invalid",
    "SearchR1Format",
    "ToolCall",
    "get_format",
]

FORMATS: dict[str, type[ActionFormat]] = {
    DeepResearcherFormat.name: DeepResearcherFormat,
    SearchR1Format.name: SearchR1Format,
}


def get_format(name: str | ActionFormat) -> ActionFormat:
    """Return the action format called ``name`` (or pass an instance through).

    Example:
        >>> get_format("search-r1").name
        'search-r1'
    """
    if isinstance(name, ActionFormat):
        return name
    if name not in FORMATS:
        raise unknown_name_error("action format", name, FORMATS)
    return FORMATS[name]()
