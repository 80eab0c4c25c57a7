"""Search API clients behind one interface."""

from __future__ import annotations

from webresearch.crawlers.search.client import SearchEngine
from webresearch.crawlers.search.engines import BraveSearch, SearXNG, SerperSearch
from webresearch.net.secrets import Secret

__all__ = ["ENGINES", "BraveSearch", "SearXNG", "SearchEngine", "Secret", "SerperSearch"]

ENGINES: dict[str, type[SearchEngine]] = {
    SerperSearch.name: SerperSearch, SearXNG.name: SearXNG, BraveSearch.name: BraveSearch,
}
"""Search engines by name (the ``engine`` of the live web)."""
