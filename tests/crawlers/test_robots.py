"""robots.txt: parsed up to its size limit, the rest ignored."""

from __future__ import annotations

import asyncio
from typing import Any

from webresearch.crawlers.robots import MAX_ROBOTS_BYTES, RobotsPolicy
from webresearch.net.http import Response


class Serves:
    """An HTTP client stand-in that answers every request with ``body``."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        return Response(url, url, 200, {"content-type": "text/plain"}, self.body)


def verdict(body: bytes) -> str | None:
    robots = RobotsPolicy(Serves(body))  # type: ignore[arg-type]
    return asyncio.run(robots.check("https://a.test/x"))


def test_rules_past_the_size_limit_are_ignored() -> None:
    head = b"User-agent: *\n"
    assert verdict(head + b"Disallow: /\n") == (
        "robots.txt of https://a.test disallows https://a.test/x")
    padding = b"#" * MAX_ROBOTS_BYTES + b"\n"
    assert verdict(head + padding + b"Disallow: /\n") is None
