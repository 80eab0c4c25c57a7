"""Finding leaks: a task's gold answers or its question's text in what the agent is shown.

Text is normalised as the reward normalises it
(:func:`~webresearch.envs.rewards.normalize_answer`: lower case, ASCII punctuation to
spaces, spaces collapsed) and a gold alias (or the whole question) counts as seen when its
normalised words appear in a row, on word boundaries. Each look is one normalisation of the
text and one substring search per alias (CPython's, linear in the text), never a regex.
Text that is not ASCII is first put in NFKC form (``ＰＡＲＩＳ`` is ``PARIS``) and its
Unicode punctuation made spaces (``“Paris”``, ``«Paris»``, ``Paris—France``), as the
reward's ASCII punctuation is, so that a word beside it is still a word.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from webresearch.envs.rewards import normalize_answer
from webresearch.tasks import Task
from webresearch.web.leaks import Leak, LeakKind, LeakSource, domain_of

__all__ = ["MAX_LEAKS", "LeakProbe"]

MAX_LEAKS = 32
"""Leaks an episode keeps (the first sighting per kind and URL): its record stays small."""


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
    """

    task: Task
    golds: tuple[str, ...]
    """The task's gold aliases, normalised, padded with a space on each side."""
    question: str
    """The question, normalised and padded ("" when it has no words)."""

    @classmethod
    def of(cls, task: Task) -> LeakProbe:
        golds = dict.fromkeys(f" {n} " for g in task.answers if (n := _normal(g)))
        question = _normal(task.question)
        return cls(task, tuple(golds), f" {question} " if question else "")

    def find(self, text: str) -> list[tuple[LeakKind, str]]:
        """The kinds of leak in ``text``, each with what matched (the first gold alias)."""
        if not text:
            return []
        haystack = f" {_normal(text)} "
        found = [(LeakKind.ANSWER, g.strip()) for g in self.golds if g in haystack][:1]
        if self.question and self.question in haystack:
            found.append((LeakKind.QUESTION, self.question.strip()))
        return found

    def leaks(self, text: str, *, step: int, url: str, source: LeakSource) -> list[Leak]:
        """The leaks ``text`` (shown at ``step``, from ``url``) holds, as records."""
        return [Leak(kind, step, url, domain_of(url), matched, source)
                for kind, matched in self.find(text)]


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
