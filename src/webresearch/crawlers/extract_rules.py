"""What HTML to text keeps and drops, shared by the lxml walk and the BeautifulSoup fallback."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BLOCKS", "BOILERPLATE", "DROP_TAGS", "KEEP_ANYWAY", "Extracted", "clean_lines"]

DROP_TAGS = frozenset(("script", "style", "noscript", "nav", "footer", "header", "aside",
                        "form", "iframe", "svg", "button", "template", "select", "head"))
KEEP_ANYWAY = frozenset(("html", "body", "main", "article"))
BOILERPLATE = re.compile(
    r"(^|[-_ ])(nav|navbar|menu|footer|sidebar|cookie|banner|breadcrumbs?|share|social|ads?|"
    r"advert\w*|promo|related|popup|modal|skip)([-_ ]|$)",
    re.IGNORECASE,
)
BLOCKS = frozenset(("p", "div", "section", "article", "main", "li", "tr", "table", "ul", "ol",
                     "pre", "blockquote", "dd", "dt", "dl", "figcaption", "br", "hr",
                     "h1", "h2", "h3", "h4", "h5", "h6"))
_ODD_SPACES = ("\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")
"""ASCII whitespace other than the space and the line break."""


@dataclass(frozen=True, slots=True)
class Extracted:
    """The readable parts of an HTML page.

    Attributes:
        title: The ``<title>`` (or first ``<h1>``), whitespace-collapsed.
        text: Main text, one block per line; headings as ``# ...``, list items as ``- ...``,
            table rows as ``cell: cell``.
        links: Absolute link targets in document order, without duplicates.
    """

    title: str
    text: str
    links: tuple[str, ...]


def clean_lines(text: str) -> str:
    r"""Collapse whitespace inside lines and drop empty lines.

    An ASCII line with single spaces between words is kept as it is, checked by C
    string searches; only the others are split into words (a third of the cost of
    extraction went to splitting clean lines).

    Example:
        >>> clean_lines("  a \u00a0 b\n\n \t\nc  \r\nd\x0be")
        'a b\nc\nd e'
    """
    for space in _ODD_SPACES:  # rare: replaced by plain spaces, whole text at once
        if space in text:
            text = text.replace(space, " ")
    lines = []
    for line in text.split("\n"):
        if line.isascii() and "  " not in line and line[:1] != " " and line[-1:] != " ":
            if line:
                lines.append(line)
        elif words := line.split():  # any Unicode space, runs of them, ends
            lines.append(" ".join(words))
    return "\n".join(lines)
