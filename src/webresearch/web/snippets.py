"""Search snippets: the sentences of a text that share most terms with the query."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["pick_sentences", "snippet", "split_sentences", "tokenize"]

_TOKEN = re.compile(r"[0-9a-z]+")
_SENTENCE = re.compile(r"(?<=[a-z0-9)\]][.!?])\s+|\n+")
_STOPWORDS = frozenset(
    "a an and are as at be by do does did for from has he how in into is it its of on or "
    "she than that the to was were what when where which who whom whose why with".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric tokens without stopwords.

    Example:
        >>> tokenize("Who founded the Pogre Works in 1917?")
        ['founded', 'pogre', 'works', '1917']
    """
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of ``text``, without headings (lines starting with ``#``).

    Example:
        >>> split_sentences("# Ada\\nAda wrote. She ran.")
        ['Ada wrote.', 'She ran.']
    """
    return [s for s in _SENTENCE.split(text) if s and s[0] != "#"]


def pick_sentences(sentences: Sequence[str], where: Mapping[str, Iterable[int]],
                   terms: Iterable[str], limit: int) -> str:
    """Join the sentences richest in ``terms``, in text order, cut to ``limit`` characters.

    ``where`` maps a term to the indices of the sentences holding it. With no
    overlap at all the snippet is the start of the text.
    """
    overlap: Counter[int] = Counter()
    for term in terms:
        overlap.update(where.get(term, ()))
    ranked = sorted(overlap, key=lambda i: (-overlap[i], i)) or [0]
    chosen, size = [], 0
    for i in ranked:
        if size >= limit or i >= len(sentences):
            break
        chosen.append(i)
        size += len(sentences[i]) + 1
    text = " ".join(sentences[i] for i in sorted(chosen))
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def snippet(text: str, query: str, limit: int = 240) -> str:
    """The query-relevant excerpt of ``text``, at most ``limit`` characters.

    Example:
        >>> snippet("Ada wrote programs. Bob grew apples. Cy sang.", "who grew apples", 40)
        'Bob grew apples.'
    """
    sentences = split_sentences(text)
    where: dict[str, list[int]] = {}
    for i, sentence in enumerate(sentences):
        for term in set(tokenize(sentence)):
            where.setdefault(term, []).append(i)
    return pick_sentences(sentences, where, set(tokenize(query)), limit)
