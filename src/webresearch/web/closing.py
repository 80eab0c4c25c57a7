"""The async context manager whose exit is an idempotent ``aclose()`` (httpx's pattern)."""

from __future__ import annotations

from typing import Self

__all__ = ["AsyncClosing"]


class AsyncClosing:
    """Something used as ``async with``: leaving the block calls :meth:`aclose`.

    Subclasses override :meth:`aclose`, which must do nothing (and not raise) when called
    again.
    """

    async def aclose(self) -> None:
        """Release resources; calling it again has no effect and does not raise."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
