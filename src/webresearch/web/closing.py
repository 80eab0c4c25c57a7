"""Context managers whose exit is an idempotent ``close()`` or ``aclose()`` (httpx's pattern)."""

from __future__ import annotations

from typing import Self

__all__ = ["AsyncClosing", "Closing"]


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


class Closing:
    """Something used as ``with``: leaving the block calls :meth:`close`."""

    def close(self) -> None:
        """Release resources."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
