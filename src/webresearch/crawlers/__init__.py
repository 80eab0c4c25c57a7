"""Real-web crawling: fetching, extraction, rate limits and caches."""

from __future__ import annotations

__all__: list[str] = []
