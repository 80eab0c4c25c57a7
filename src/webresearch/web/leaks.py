"""A leak: a gold answer or the question's own text seen in an observation, where and when.

The env finds them (:mod:`webresearch.envs.leaks`, which also says what counts: whole
words, in the observation as the agent received it, a too-short answer only alone or
beside the question); the episode's outcome and its record carry them, so that a run's
leak rate can be read from the store alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Leak", "LeakKind", "LeakSource", "domain_of"]


class LeakKind(StrEnum):
    """What was seen: a gold answer, or the question's own text (a dump of the benchmark)."""

    ANSWER = "answer"
    QUESTION = "question"


class LeakSource(StrEnum):
    """Where in the observation it was seen."""

    SEARCH = "search"
    """A search result's title or snippet."""
    PAGE = "page"
    """The page text shown by a browse (or what a reading agent extracted from it)."""


def domain_of(url: str) -> str:
    """The host of ``url``, lower-case, without a leading ``www.`` or the root's dot (""
    when it has none).

    Example:
        >>> domain_of("https://WWW.Example.org.:8080/a?b")
        'example.org'
        >>> domain_of("not a url")
        ''
    """
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a malformed URL from the web: no domain, never an exception
        return ""
    return host.rstrip(".").removeprefix("www.")


@dataclass(frozen=True, slots=True)
class Leak:
    """The first sighting of a gold answer or of the question from one URL in an episode.

    Attributes:
        kind: A gold answer, or the question's text.
        step: Index of the step whose observation showed it (``record.steps[step]``).
        url: The URL it came from (a search hit's, or the page's final URL).
        domain: That URL's host, without ``www.``.
        text: What was matched, normalised as the reward normalises.
        source: A search result, or page text.

    Example:
        >>> leak = Leak(LeakKind.ANSWER, 1, "https://a.test/x", "a.test", "paris",
        ...             LeakSource.PAGE)
        >>> Leak.from_json(leak.to_json()) == leak
        True
    """

    kind: LeakKind
    step: int
    url: str
    domain: str
    text: str
    source: LeakSource

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "step": self.step, "url": self.url,
                "domain": self.domain, "text": self.text, "source": str(self.source)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Leak:
        return cls(LeakKind(data["kind"]), int(data["step"]), data["url"], data["domain"],
                   data["text"], LeakSource(data["source"]))
