"""The network toolkit: HTTP client, retries, URL safety, rate limits, URLs, single flight, secrets.

Shared by every layer that talks to a server (crawlers, model clients, readers);
it imports nothing of the package but ``errors``.
"""

from __future__ import annotations

__all__: list[str] = []
