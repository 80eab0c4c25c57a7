"""Pronounceable fictional names, so that no pretrained model knows the simulated world."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["NameGenerator"]

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p",
           "qu", "r", "s", "st", "t", "th", "tr", "v", "vr", "w", "z", "zh")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "ia", "y")
_CODAS = ("", "", "", "n", "r", "s", "l", "th", "x", "nd", "rk", "m", "sk")

_ORG_SUFFIXES = ("Industries", "University", "Institute", "Press", "Records", "Company",
                 "Foundation", "Works", "Studios", "Society")
_WORK_NOUNS = ("Harbor", "Orchard", "Lantern", "Meridian", "Tide", "Garden", "Archive",
               "Cipher", "Mirror", "Summit", "Voyage", "Ember", "Compass", "Echo", "Atlas")
_WORK_ADJECTIVES = ("Veiled", "Silent", "Crimson", "Hollow", "Distant", "Gilded", "Broken",
                    "Quiet", "Northern", "Final", "Burning", "Glass", "Iron", "Seventh")


class NameGenerator:
    """Draw unique names from a seeded random source.

    Every name returned is new for this generator, so names identify entities.

    Example:
        >>> gen = NameGenerator(random.Random(0))
        >>> a, b = gen.person(), gen.person()
        >>> a != b and len(a.split()) == 2
        True
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def word(self, syllables: int | None = None) -> str:
        """A capitalised pseudo-word of 2-3 syllables."""
        n = syllables or self._rng.choice((2, 2, 3))
        parts = [self._rng.choice(_ONSETS) + self._rng.choice(_VOWELS) for _ in range(n)]
        return ("".join(parts) + self._rng.choice(_CODAS)).capitalize()

    def person(self) -> str:
        return self._unique(lambda: f"{self.word()} {self.word()}")

    def place(self) -> str:
        return self._unique(lambda: self.word(self._rng.choice((2, 3))))

    def organization(self) -> str:
        return self._unique(lambda: f"{self.word()} {self._rng.choice(_ORG_SUFFIXES)}")

    def work(self) -> str:
        def draw() -> str:
            adjective = self._rng.choice(_WORK_ADJECTIVES)
            return f"The {adjective} {self._rng.choice(_WORK_NOUNS)} of {self.word()}"

        return self._unique(draw)

    def _unique(self, draw: Callable[[], str]) -> str:
        for _ in range(1000):
            name = draw()
            if name not in self._used:
                self._used.add(name)
                return name
        raise RuntimeError("name space exhausted; lower the world size")
