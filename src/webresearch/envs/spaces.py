"""A Gymnasium space of arbitrary Unicode strings, for web text observations and model actions."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.spaces import Space
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

__all__ = ["SharedStrings", "UnicodeText"]

# Code points a sample draws from: printable ASCII, then the rest of Unicode
# without surrogates (which cannot be encoded) and without C0/C1 controls.
_RANGES = np.array([(0x20, 0x7F), (0xA0, 0xD800), (0xE000, 0x110000)], dtype=np.int64)
_ASCII_SHARE = 0.5


class UnicodeText(Space[str]):
    r"""Strings of any Unicode characters, with a length between two bounds.

    Gymnasium's :class:`~gymnasium.spaces.Text` only admits a fixed charset; web
    pages and model outputs hold anything. Samples mix ASCII and the rest of Unicode.
    Gymnasium's shared memory holds it (``max_length + 1`` int32 per env: the length,
    then the code points), so ``gym.make_vec(..., vectorization_mode="async")`` works
    with its default ``shared_memory=True``.

    Example:
        >>> space = UnicodeText(max_length=8, seed=0)
        >>> "héllo ✓" in space, "x" * 9 in space, 3 in space
        (True, False, False)
        >>> s = space.sample()
        >>> isinstance(s, str) and len(s) <= 8
        True
    """

    def __init__(self, max_length: int, *, min_length: int = 0,
                 seed: int | np.random.Generator | None = None) -> None:
        if not 0 <= min_length <= max_length:
            raise ValueError(
                f"Expects 0 <= min_length <= max_length, actual: {min_length}, {max_length}"
            )
        self.min_length = int(min_length)
        self.max_length = int(max_length)
        super().__init__(dtype=str, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random string; ``mask`` may fix its length as an ``int``."""
        if probability is not None:
            raise ValueError("UnicodeText.sample does not take a probability")
        length = int(mask) if mask is not None else int(
            self.np_random.integers(self.min_length, self.max_length + 1))
        rng = self.np_random
        which = rng.integers(1, len(_RANGES), size=length)
        which[rng.random(length) < _ASCII_SHARE] = 0
        low, high = _RANGES[which, 0], _RANGES[which, 1]
        points = low + (rng.random(length) * (high - low)).astype(np.int64)
        return "".join(map(chr, points.tolist()))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, UnicodeText) and self.min_length == other.min_length
                and self.max_length == other.max_length)

    def __hash__(self) -> int:
        return hash((UnicodeText, self.min_length, self.max_length))

    def to_jsonable(self, sample_n: Any) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: list[str]) -> list[str]:
        return list(sample_n)


# ------------------------------------------------------------- shared memory
# One row of ``max_length + 1`` int32 per env: the string's length, then its code points.

@create_shared_memory.register(UnicodeText)
def _create_shared(space: UnicodeText, n: int = 1, ctx: ModuleType = multiprocessing) -> Any:
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


def _rows(space: UnicodeText, shared_memory: Any) -> np.ndarray[Any, np.dtype[np.int32]]:
    data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    return data.reshape((-1, space.max_length + 1))


class SharedStrings(Sequence[str]):
    """A live view of the strings in shared memory (an async vector env reads its buffer
    once and expects a view, as numpy gives for arrays); a deep copy is a plain tuple."""

    def __init__(self, space: UnicodeText, shared_memory: Any, n: int) -> None:
        self._space, self._memory, self._n = space, shared_memory, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        row = _rows(self._space, self._memory)[range(self._n)[index]]
        return "".join(map(chr, row[1:1 + row[0]].tolist()))

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self._n))

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"SharedStrings({tuple(self)!r})"


@read_from_shared_memory.register(UnicodeText)
def _read_shared(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedStrings:
    return SharedStrings(space, shared_memory, n)


@write_to_shared_memory.register(UnicodeText)
def _write_shared(space: UnicodeText, index: int, value: str, shared_memory: Any) -> None:
    if not space.contains(value):
        raise ValueError(f"Expects a string of at most {space.max_length} characters, "
                         f"actual: {type(value).__name__} of length {len(value)}"
                         if isinstance(value, str) else
                         f"Expects a string, actual: {type(value).__name__}")
    row = _rows(space, shared_memory)[index]
    row[0] = len(value)
    row[1:1 + len(value)] = np.fromiter(map(ord, value), dtype=np.int32, count=len(value))
