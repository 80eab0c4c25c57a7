"""Finding leaks: a task's gold answers or its question's text in what the agent is shown.

Text is normalised as the reward normalises it
(:func:`~webresearch.envs.rewards.normalize_answer`: lower case, ASCII punctuation to
spaces, spaces collapsed) and a gold alias (or the whole question) counts as seen when its
normalised words appear in a row, on word boundaries. Each look is one normalisation of the
text and one substring search per alias (CPython's, linear in the text), never a regex.
Text that is not ASCII is first put in NFKC form (``ＰＡＲＩＳ`` is ``PARIS``) and its
Unicode punctuation made spaces (``“Paris”``, ``«Paris»``, ``Paris—France``), as the
reward's ASCII punctuation is, so that a word beside it is still a word.

A gold alias too short or too common to be evidence by itself (one word of at most two
characters, such as ``1``, ``42`` or ``a``, or a word in :data:`COMMON_WORDS`, such as
``the``, ``yes`` or ``two``) would match nearly every page: it counts only where the text
around it points at the question, that is, where the text it is looked in (a result's
title and snippet, a page's title and segment) is the answer alone, or also holds the
question's text. Elsewhere it is not reported.

What is looked in is what the agent receives: an observation cut to
``max_observation_chars`` shows each piece (at the place its tool result put it) only up
to the cut, less a word the cut splits (:meth:`LeakProbe.seen`), so an answer beyond it is
not a leak; a short answer is judged alone on the uncut piece, never on what the cut left.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from webresearch.envs.rewards import normalize_answer
from webresearch.tasks import Task
from webresearch.web.leaks import Leak, LeakKind, LeakSource, domain_of

__all__ = ["COMMON_WORDS", "MAX_LEAKS", "LeakProbe", "Sighting"]

MAX_LEAKS = 32
"""Leaks an episode keeps (the first sighting per kind and URL): its record stays small."""

COMMON_WORDS = frozenset(
    "the and or but not nor for of in on at to by as is it its was be are he she they we "
    "you his her him them this that these those there here from with yes no none all any "
    "true false one two three four five six seven eight nine ten".split())
"""Words that an alias made of one of them is too common to be evidence by itself."""


@dataclass(frozen=True, slots=True)
class LeakProbe:
    """What one task's leaks look like once normalised, and the search for them in text.

    Example:
        >>> probe = LeakProbe.of(Task(id="t", question="Who painted the Mona Lisa?",
        ...                           answers=("Leonardo da Vinci", "Leonardo")))
        >>> probe.find("It was LEONARDO, of course.")
        [(<LeakKind.ANSWER: 'answer'>, 'leonardo')]
        >>> probe.find("Leonardos and others")  # whole words only
        []
        >>> [kind for kind, _ in probe.find("Q: who painted the Mona-Lisa? A: da Vinci")]
        [<LeakKind.QUESTION: 'question'>]
        >>> weak = LeakProbe.of(Task(id="t", question="How many moons has Mars?", answers=("2",)))
        >>> weak.find("Page 2 of 9"), weak.find("2.")  # too short to count, but alone
        ([], [(<LeakKind.ANSWER: 'answer'>, '2')])
    """

    task: Task
    golds: tuple[str, ...]
    """The task's gold aliases, normalised, padded with a space on each side."""
    question: str
    """The question, normalised and padded ("" when it has no words)."""
    weak: frozenset[str] = frozenset()
    """The golds too short or common to be evidence by themselves (see the module)."""

    @classmethod
    def of(cls, task: Task) -> LeakProbe:
        golds = dict.fromkeys(f" {n} " for g in task.answers if (n := _normal(g)))
        question = _normal(task.question)
        weak = frozenset(g for g in golds if " " not in (n := g.strip()) and (
            len(n) <= 2 or n in COMMON_WORDS))
        return cls(task, tuple(golds), f" {question} " if question else "", weak)

    def find(self, text: str, whole: str | None = None) -> list[tuple[LeakKind, str]]:
        """The kinds of leak in ``text``, each with what matched (the first gold alias);
        ``text`` is the start of ``whole`` where a cut left the rest unseen (a short
        answer counts as the text alone only where the whole is that answer)."""
        if not text:
            return []
        haystack = f" {_normal(text)} "
        asked = bool(self.question) and self.question in haystack
        found = [(LeakKind.ANSWER, g.strip()) for g in self.golds if g in haystack and (
            g not in self.weak or asked
            or g == (haystack if whole is None else f" {_normal(whole)} "))][:1]
        if asked:
            found.append((LeakKind.QUESTION, self.question.strip()))
        return found

    def seen(self, sightings: Sequence[Sighting], kept: int, *, step: int) -> list[Leak]:
        """The leaks of ``sightings`` that their text cut at ``kept`` (what the agent
        receives of it) shows, at ``step``: each piece as far as the cut, less a word the
        cut splits.

        Example:
            >>> probe = LeakProbe.of(Task(id="t", question="Is it flat?", answers=("No",)))
            >>> hit = Sighting(((0, "No Country for Old Men"),), "u:film", LeakSource.SEARCH)
            >>> probe.seen([hit], 2, step=0), probe.seen([hit], 30, step=0)  # not alone
            ([], [])
            >>> [leak.url for leak in probe.seen([hit.moved(9)], 11, step=0)]
            []
            >>> [leak.url for leak in probe.seen([Sighting(((3, "no"),), "u:no",
            ...                                            LeakSource.PAGE)], 5, step=0)]
            ['u:no']
        """
        leaks = []
        for s in sightings:
            text = "\n".join(_cut(piece, kept - at) for at, piece in s.pieces)
            if text.strip():
                whole = "\n".join(piece for _, piece in s.pieces)
                leaks += [Leak(kind, step, s.url, domain_of(s.url), matched, s.source)
                          for kind, matched in self.find(text, whole)]
        return leaks


@dataclass(frozen=True, slots=True)
class Sighting:
    """Text from one URL that an observation's body holds, looked in for leaks once the
    observation is cut to what the agent receives.

    Attributes:
        pieces: The texts (a search result's title and snippet, a page's title and
            segment, a reader's extract), each after the place in the body it starts at.
        url: The URL they came from.
        source: A search result, or page text.
    """

    pieces: tuple[tuple[int, str], ...]
    url: str
    source: LeakSource

    def moved(self, by: int) -> Sighting:
        """The same texts, ``by`` characters further on (the body is part of a longer one)."""
        return Sighting(tuple((at + by, p) for at, p in self.pieces), self.url, self.source)


def _cut(piece: str, kept: int) -> str:
    """``piece[:kept]``, less the start of a word the cut splits: the agent is not shown
    that word (``Parisian`` cut after ``Paris`` is not ``Paris``).

    Example:
        >>> _cut("Parisian food", 5), _cut("Paris, France", 5), _cut("Paris", -3)
        ('', 'Paris', '')
    """
    if kept >= len(piece):
        return piece
    kept = max(kept, 0)
    if kept and piece[kept].isalnum():
        while kept and piece[kept - 1].isalnum():
            kept -= 1
    return piece[:kept]


def _normal(text: str) -> str:
    """``normalize_answer(text)``, after NFKC and Unicode punctuation to spaces where
    ``text`` is not ASCII (one pass over it).

    Example:
        >>> _normal("“Paris”—the «CAPITAL»")
        'paris the capital'
    """
    if not text.isascii():
        text = "".join(" " if unicodedata.category(c)[0] == "P" else c
                       for c in unicodedata.normalize("NFKC", text))
    return normalize_answer(text)
