"""Text to BM25 terms as pyserini's default English analysis does, in bm25s's spelling.

Lowercase, split on ``(?u)\\b\\w\\w+\\b`` (bm25s's splitter: words of two or more word
characters), drop Lucene's 33 English stop words (the set both bm25s and Lucene's
``EnglishAnalyzer`` use), stem with the Porter stemmer (Anserini/pyserini's default;
``"english"`` selects Snowball). Differences from Lucene's ``StandardTokenizer``: single
characters are dropped and an apostrophe splits a word (``o'neil`` -> ``neil``), as in bm25s.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from webresearch._lazy import require

__all__ = ["STOPWORDS", "Analyzer", "term_hash"]

STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with"))
"""Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (also bm25s's ``"en"`` list)."""

_SPLIT = re.compile(r"\w\w+").findall
r"""bm25s's ``(?u)\b\w\w+\b`` without the boundaries: a maximal run of word characters
starts and ends on one anyway, and the plain pattern is a quarter faster."""
STOP = -1
"""The term id of a stop word in an :class:`Analyzer`'s word cache."""


def term_hash(term: str) -> int:
    """A 63-bit hash of a stemmed term: the key of an index's vocabulary table."""
    digest = hashlib.blake2b(term.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class Analyzer:
    """Words to stemmed terms, with a cache from surface word to term id while building.

    Example:
        >>> Analyzer().terms("The Cats were running, and the dog RAN")
        ['cat', 'were', 'run', 'dog', 'ran']
    """

    def __init__(self, stemmer: str = "porter") -> None:
        self.stemmer_name = stemmer
        self._stem: Any = require("Stemmer", "corpus").Stemmer(stemmer).stemWord
        self.term_ids: dict[str, int] = {}
        """Stemmed term -> id, in order of first appearance (filled by :meth:`ids`)."""
        self._word_ids: dict[str, int] = {}

    def words(self, text: str) -> list[str]:
        """The lowercase words of ``text``, stop words included."""
        return _SPLIT(text.lower())

    def terms(self, text: str) -> list[str]:
        """The stemmed terms of ``text``, stop words left out."""
        return [self._stem(w) for w in self.words(text) if w not in STOPWORDS]

    def ids(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Term ids of every text (new terms get new ids) and each text's term count.

        Returns ``(ids, lengths)``: ``ids`` (int32, all texts' terms end to end, stop words
        left out) and ``lengths`` (int32, terms per text).
        """
        words: list[str] = []
        counts: list[int] = []
        for text in texts:
            split = _SPLIT(text.lower())
            words.extend(split)
            counts.append(len(split))
        get = self._word_ids.get
        ids = [get(w, -2) for w in words]
        for i, wid in enumerate(ids):
            if wid == -2:
                ids[i] = self._learn(words[i])
        flat = np.asarray(ids, dtype=np.int32)
        keep = flat >= 0
        owner = np.repeat(np.arange(len(counts)), counts)
        lengths = np.bincount(owner[keep], minlength=len(counts)).astype(np.int32)
        return flat[keep], lengths

    def _learn(self, word: str) -> int:
        """The id of a surface word not seen before (``STOP`` for a stop word)."""
        if word in self._word_ids:
            return self._word_ids[word]
        if word in STOPWORDS:
            tid = STOP
        else:
            stem = self._stem(word)
            tid = self.term_ids.setdefault(stem, len(self.term_ids))
        if len(self._word_ids) < 20_000_000:  # bounded: surface forms past this re-stem
            self._word_ids[word] = tid
        return tid
