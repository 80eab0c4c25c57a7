"""HTML to readable text: main content kept, boilerplate (scripts, navigation, footers) dropped.

The hot path parses with lxml and renders the text in one walk over the tree, which it
leaves unchanged (0.6-0.7 ms for a 60 KB page: a fifth parsing, half the walk, the rest
collapsing whitespace); BeautifulSoup is the fallback for documents lxml refuses.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urljoin

from lxml import etree

from webresearch.crawlers.charset import decode
from webresearch.crawlers.extract_rules import (
    BLOCKS,
    BOILERPLATE,
    DROP_TAGS,
    KEEP_ANYWAY,
    Extracted,
    clean_lines,
)

__all__ = ["Extracted", "clean_lines", "html_to_text"]

_OPENERS = {tag: "\n" for tag in BLOCKS} | {f"h{i}": "\n" + "#" * i + " " for i in range(1, 7)}
_OPENERS["li"] = "\n- "
"""What a block element puts before its text: a line break, and a heading's or item's mark."""
_CELLS = frozenset(("td", "th"))
_SPECIAL = _CELLS | {"tr", "a"}
"""Tags that take the slow path (links and tables)."""
_NOT_LINKS = ("#", "javascript:", "mailto:")
def html_to_text(html: str | bytes, *, base_url: str = "") -> Extracted:
    """Extract the title, readable text and links of an HTML document.

    Args:
        html: The document; bytes are decoded by :func:`~webresearch.crawlers.charset.decode`
            (a BOM, a meta charset, UTF-8, then cp1252).
        base_url: The page's URL, against which relative links are resolved.

    Example:
        >>> doc = ('<html><head><title>A</title><script>x()</script></head><body>'
        ...        '<nav>Home | About</nav><main><h1>A</h1><p>Born in <a href="/b">B</a>.'
        ...        '</p><ul><li>one</li></ul></main><footer>(c) 2026</footer></body></html>')
        >>> out = html_to_text(doc, base_url="https://w.test/a")
        >>> print(out.text)
        # A
        Born in B.
        - one
        >>> out.links
        ('https://w.test/b',)
    """
    if isinstance(html, bytes):
        html = decode(html)  # libxml2 alone would assume Latin-1 without a meta charset
    if not html.strip():
        return Extracted("", "", ())
    html = _XML_DECLARATION.sub("", html, count=1)  # lxml refuses a str that declares one
    try:
        root = etree.fromstring(html, parser=_parser())
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:  # lxml found no document (or refused it): let BeautifulSoup try
        from webresearch.crawlers.extract_bs4 import html_to_text_bs4  # noqa: PLC0415

        return html_to_text_bs4(html, base_url=base_url)
    render = _Render(base_url)
    render.walk(_main(root))
    return Extracted(title=_title(root), text=clean_lines("".join(render.out)),
                     links=tuple(render.links))


_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*>")
"""An XHTML page's ``<?xml ... encoding=...?>``: lxml raises on one in text already decoded,
which sent such pages to the slower BeautifulSoup path."""

_PARSERS = threading.local()


def _parser() -> etree.HTMLParser:
    """One HTML parser per thread (lxml parsers are reusable, but not by two threads at once)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.HTMLParser(remove_comments=True, remove_pis=True,
                                                    no_network=True, recover=True)
    return parser


def _title(root: etree._Element) -> str:
    node = next(root.iter("title"), None)
    if node is None or not "".join(node.itertext()).strip():
        node = next(root.iter("h1"), None)
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def _dropped(el: etree._Element, tag: object) -> bool:
    """Boilerplate: a dropped tag, or a class, id or role that names a menu, a banner, ads;
    or no element at all (a comment the parser kept)."""
    if type(tag) is not str or tag in DROP_TAGS:
        return True
    get = el.get
    marks = (get("class"), get("id"), get("role"))
    if marks == (None, None, None) or tag in KEEP_ANYWAY:
        return False
    return BOILERPLATE.search(" ".join(m for m in marks if m)) is not None


def _main(root: etree._Element) -> etree._Element:
    """The first ``<main>``, ``<article>`` or ``<body>`` outside boilerplate (else the root)."""
    for tag in ("main", "article", "body"):
        for el in root.iter(tag):
            if not any(_dropped(up, up.tag) for up in el.iterancestors()):
                return el
    return root


class _Render:
    """Renders a subtree as text in one walk that leaves the tree as it is, and collects links.

    Block elements start and end lines (headings and list items with their marks); a
    table row is one line of its non-empty cells joined by ``": "``; boilerplate
    vanishes, the text after it stays.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.out: list[str] = []
        self.links: dict[str, None] = {}
        self.hrefs: set[str] = set()  # as written: a page repeats its links, join each once
        self.rows: list[list[int]] = []  # open rows: [cells shown so far, cells open outside]
        self.cells: list[int] = []  # open cells: where their text starts in ``out``

    def walk(self, top: etree._Element) -> None:
        walker = etree.iterwalk(top, events=("start", "end"))
        out, rows = self.out, self.rows
        tags: list[str] = []  # of the open elements ("" for a dropped one): lxml's .tag is slow
        for event, el in walker:  # the hot loop: lxml iterates in C, Python only dispatches
            if event == "start":
                tag = el.tag
                if _dropped(el, tag):
                    walker.skip_subtree()  # its "end" still comes, for its tail
                    tags.append("")
                    continue
                tags.append(tag)
                if rows or tag in _SPECIAL:
                    self._open(el, tag)
                elif tag in _OPENERS:
                    out.append(_OPENERS[tag])
                text = el.text
                if text and not (rows and self._between_cells()):
                    out.append(text)
                continue
            tag = tags.pop()  # "" for a dropped element: only its tail counts
            if tag and (rows or tag in _SPECIAL):
                self._close(tag)
            elif tag in BLOCKS:
                out.append("\n")
            tail = el.tail if tags else None  # (the top element's tail is not its text)
            if tail and not (rows and self._between_cells()):
                out.append(tail)

    def _between_cells(self) -> bool:
        """Inside a table row but in no cell of it: only whitespace lives there."""
        return len(self.cells) <= self.rows[-1][1]

    def _open(self, el: etree._Element, tag: str) -> None:
        if tag == "a":
            href = (el.get("href") or "").strip()
            if href and href not in self.hrefs and not href.startswith(_NOT_LINKS):
                self.hrefs.add(href)
                self.links.setdefault(urljoin(self.base_url, href), None)
        if tag in _CELLS and self.rows:
            self.cells.append(len(self.out))
        elif tag in _OPENERS:  # inside a cell, a block is a space
            self.out.append(" " if self.cells else _OPENERS[tag])
        if tag == "tr":
            self.rows.append([0, len(self.cells)])

    def _close(self, tag: str) -> None:
        out = self.out
        if tag in _CELLS and self.rows and len(self.cells) > self.rows[-1][1]:
            start = self.cells.pop()
            cell = " ".join("".join(out[start:]).split())
            del out[start:]
            if cell:
                row = self.rows[-1]
                out.append(f": {cell}" if row[0] else cell)
                row[0] += 1
        elif tag == "tr" and self.rows:
            self.rows.pop()
            if not self.cells:
                out.append("\n")
        elif tag in BLOCKS:
            out.append(" " if self.cells else "\n")
