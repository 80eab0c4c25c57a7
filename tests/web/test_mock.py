"""The mock backend and the backend contract (context manager, idempotent close)."""

from __future__ import annotations

import asyncio

from webresearch.envs.backends import make_web
from webresearch.web import MockWeb, Page, SearchHit, SearchResults


def test_handlers_may_be_sync_or_async_and_return_shortcuts() -> None:
    async def fetch(url: str) -> Page:
        return Page(url=url, final_url=url, status=200, title="T", text="body")

    web = MockWeb(search=lambda q, k: [SearchHit("t", "u", "s")] * 20, fetch=fetch)

    async def main() -> tuple[SearchResults, Page]:
        async with web:
            return await web.search("q", k=3), await web.fetch("https://a.test/")

    results, page = asyncio.run(main())
    assert len(results.hits) == 3 and page.text == "body" and page.ok
    assert web.requests == [("search", "q"), ("fetch", "https://a.test/")]


def test_defaults_and_close_twice() -> None:
    web = MockWeb()
    assert asyncio.run(web.fetch("u")).error == "404 Not Found"
    asyncio.run(web.aclose())
    asyncio.run(web.aclose())
    assert make_web(web) is web
