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


class Answers:
    """An HTTP client stand-in that answers every request with ``status``, counting them."""

    def __init__(self, status: int) -> None:
        self.status, self.requests = status, 0

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        self.requests += 1
        error = None if status_ok(self.status) else f"HTTP {self.status}"
        return Response(url, url, self.status, error=error)


def status_ok(status: int) -> bool:
    return 200 <= status < 300


def test_an_unreadable_robots_txt_disallows_the_origin_and_is_not_asked_again() -> None:
    async def twice(status: int) -> tuple[str | None, str | None, int]:
        client = Answers(status)
        robots = RobotsPolicy(client)  # type: ignore[arg-type]
        first = await robots.check("https://a.test/x")
        return first, await robots.check("https://a.test/y"), client.requests

    reason = "robots.txt of https://a.test could not be read (HTTP 503)"
    assert asyncio.run(twice(503)) == (reason, reason, 1)
    assert asyncio.run(twice(404)) == (None, None, 1)  # missing: everything is allowed
