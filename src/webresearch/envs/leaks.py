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
``max_observation_chars`` shows each piece only up to the cut (:func:`shown`), so an
answer beyond it is not a leak.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from webresearch.envs.rewards import normalize_answer
from webresearch.tasks import Task
from webresearch.web.leaks import Leak, LeakKind, LeakSource, domain_of

__all__ = ["COMMON_WORDS", "MAX_LEAKS", "LeakProbe", "Sighting", "shown"]

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

    def find(self, text: str) -> list[tuple[LeakKind, str]]:
        """The kinds of leak in ``text``, each with what matched (the first gold alias)."""
        if not text:
            return []
        haystack = f" {_normal(text)} "
        asked = bool(self.question) and self.question in haystack
        found = [(LeakKind.ANSWER, g.strip()) for g in self.golds if g in haystack
                 and (g not in self.weak or asked or g == haystack)][:1]
        if asked:
            found.append((LeakKind.QUESTION, self.question.strip()))
        return found

    def leaks(self, text: str, *, step: int, url: str, source: LeakSource) -> list[Leak]:
        """The leaks ``text`` (shown at ``step``, from ``url``) holds, as records."""
        return [Leak(kind, step, url, domain_of(url), matched, source)
                for kind, matched in self.find(text)]

    def seen(self, sightings: Sequence[Sighting], observation: str, kept: int, *,
             step: int) -> list[Leak]:
        """The leaks of ``sightings`` that ``observation[:kept]`` (what the agent receives)
        shows, at ``step``."""
        return [leak for text, s in shown(sightings, observation, kept)
                for leak in self.leaks(text, step=step, url=s.url, source=s.source)]


@dataclass(frozen=True, slots=True)
class Sighting:
    """Text from one URL that an observation holds, looked in for leaks once the
    observation is cut to what the agent receives.

    Attributes:
        pieces: The texts, in order, each as the observation holds it (a search result's
            title and snippet, a page's title and segment, a reader's extract).
        url: The URL they came from.
        source: A search result, or page text.
    """

    pieces: tuple[str, ...]
    url: str
    source: LeakSource


def shown(sightings: Sequence[Sighting], observation: str, kept: int
          ) -> Iterator[tuple[str, Sighting]]:
    """Each sighting's pieces (joined by new lines) as far as ``observation[:kept]`` shows
    them: the pieces are found in order in ``observation``, and one that starts at or
    beyond ``kept`` is left out, one across it cut there. A piece the observation does not
    hold as it is counts from the place of the last one found (shown, if in doubt).

    Example:
        >>> hits = [Sighting(("Ada", "Ada wrote it."), "u:a", LeakSource.SEARCH),
        ...         Sighting(("Bob", "Bob ran."), "u:b", LeakSource.SEARCH)]
        >>> text = "1. Ada\\n   Ada wrote it.\\n2. Bob\\n   Bob ran."
        >>> [(t, s.url) for t, s in shown(hits, text, 19)]
        [('Ada\\nAda wrote', 'u:a')]
    """
    cursor = 0
    for sighting in sightings:
        parts = []
        for piece in sighting.pieces:
            at = observation.find(piece, cursor)
            if at < 0:
                at = cursor
            else:
                cursor = at + len(piece)
            parts.append(piece[:max(0, kept - at)])
        if any(parts):
            yield "\n".join(parts), sighting


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
