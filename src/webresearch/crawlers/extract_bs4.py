"""The BeautifulSoup fallback of HTML-to-text, for documents the lxml hot path refuses."""

from __future__ import annotations

from urllib.parse import urljoin

from bs4 import BeautifulSoup, Comment, Tag

from webresearch.crawlers.extract_rules import (
    BLOCKS,
    BOILERPLATE,
    DROP_TAGS,
    KEEP_ANYWAY,
    Extracted,
    clean_lines,
)

__all__ = ["html_to_text_bs4"]


def html_to_text_bs4(html: str | bytes, *, base_url: str = "") -> Extracted:
    """:func:`~webresearch.crawlers.extract.html_to_text` with BeautifulSoup: same rules,
    same output, about 20 times slower.

    Example:
        >>> print(html_to_text_bs4("<nav>Menu</nav><p>Hi <b>there</b></p>").text)
        Hi there
    """
    soup = BeautifulSoup(html, "lxml")
    title = _title(soup)
    _drop_boilerplate(soup)
    root = soup.find("main") or soup.find("article") or soup.body or soup
    assert isinstance(root, Tag)
    links = _links(root, base_url)
    _mark_blocks(root)
    text = clean_lines(root.get_text(""))
    return Extracted(title=title, text=text, links=links)


def _title(soup: BeautifulSoup) -> str:
    node = soup.title or soup.find("h1")
    return " ".join(node.get_text(" ").split()) if node else ""


def _drop_boilerplate(soup: BeautifulSoup) -> None:
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(sorted(DROP_TAGS - {'head'})):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or tag.attrs is None:
            continue
        classes: list[str] = list(tag.get("class") or [])
        marks = " ".join([*classes, str(tag.get("id", "")), str(tag.get("role", ""))])
        if tag.name not in KEEP_ANYWAY and BOILERPLATE.search(marks):
            tag.decompose()


def _links(root: Tag, base_url: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for a in root.find_all("a", href=True):
        href = str(a["href"]).strip()
        if href and not href.startswith(("#", "javascript:", "mailto:")):
            seen.setdefault(urljoin(base_url, href), None)
    return tuple(seen)


def _mark_blocks(root: Tag) -> None:
    """Put line breaks around block elements and prefixes on headings, items and rows."""
    for tag in root.find_all(sorted(BLOCKS)):
        name = tag.name
        if name == "tr":
            for block in tag.find_all(sorted(BLOCKS)):  # inside a cell, a block is a space
                block.insert_before(" ")
                block.insert_after(" ")
            cells = [" ".join(c.get_text().split()) for c in tag.find_all(("th", "td"))]
            tag.replace_with("\n" + ": ".join(c for c in cells if c) + "\n")
            continue
        if name[0] == "h" and name[1:].isdigit():
            tag.insert(0, "#" * int(name[1:]) + " ")
        elif name == "li":
            tag.insert(0, "- ")
        tag.insert_before("\n")
        tag.insert_after("\n")
