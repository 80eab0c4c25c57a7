"""The simulated web as a backend: search and fetch over the pages of a generated world."""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from webresearch.crawlers.extract import Extracted, html_to_text
from webresearch.sim.pages import PageContent, render_content, render_html
from webresearch.sim.search import BM25Index, Document
from webresearch.sim.tasks import generate_tasks
from webresearch.sim.world import BASE_URL, World, WorldConfig
from webresearch.tasks import Task
from webresearch.web.backend import Page, SearchHit, SearchResults, WebBackend

__all__ = ["SimSite", "SimWeb", "SimWebConfig"]

HOST = urlsplit(BASE_URL).netloc


@dataclass(frozen=True, slots=True)
class SimWebConfig:
    """Which simulated web to serve and its default task set."""

    world: WorldConfig = field(default_factory=WorldConfig)
    """The generated world behind the pages."""
    tasks: int = 500
    """Size of the default task set."""
    task_seed: int = 0
    """Seed of the default task set, independent of the world's."""
    snippet_chars: int = 240
    """Longest search snippet."""


class SimSite:
    """The pages of one world: contents, HTML, the search index; built once per process.

    Extracted text is memoised per page, so the HTML is parsed once however often
    it is fetched.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.contents: dict[str, PageContent] = {
            entity.id: render_content(world, entity) for entity in world.entities.values()
        }
        self.index = BM25Index(
            [Document(c.title, c.url, c.text()) for c in self.contents.values()]
        )
        self._extracted: dict[str, Extracted] = {}

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def of(config: WorldConfig) -> SimSite:
        """The (cached) site of the world that ``config`` generates."""
        return SimSite(World.generate(config))

    def page_id(self, url: str) -> str | None:
        """The page id behind ``url``, tolerant of scheme, case of host, slashes and quoting."""
        raw = url.strip()
        try:
            parts = urlsplit(raw if "//" in raw else "https://" + raw)
        except ValueError:  # not a URL at all
            return None
        if parts.netloc.lower() != HOST or not parts.path.startswith("/wiki/"):
            return None
        page_id = unquote(parts.path[len("/wiki/"):]).strip("/").replace(" ", "_")
        return page_id if page_id in self.contents else None

    def html(self, page_id: str) -> str:
        content = self.contents[page_id]
        return render_html(content, random.Random(f"html/{content.url}"))

    def extracted(self, page_id: str) -> Extracted:
        out = self._extracted.get(page_id)
        if out is None:
            out = html_to_text(self.html(page_id), base_url=self.contents[page_id].url)
            self._extracted[page_id] = out
        return out


class SimWeb(WebBackend):
    """An offline, deterministic web of fictional encyclopedia pages.

    Example:
        >>> import asyncio
        >>> web = SimWeb()
        >>> task = web.default_tasks()[0]
        >>> hits = asyncio.run(web.search(task.supporting[0].title, k=3)).hits
        >>> task.supporting[0].url in [h.url for h in hits]
        True
        >>> asyncio.run(web.fetch("https://simpedia.test/wiki/Nowhere")).error
        '404 Not Found'
    """

    def __init__(self, config: SimWebConfig | None = None) -> None:
        self.config = config or SimWebConfig()
        self.site = SimSite.of(self.config.world)

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        found = self.site.index.search(query, k=k, snippet_chars=self.config.snippet_chars)
        hits = tuple(SearchHit(doc.title, doc.url, snippet) for doc, snippet in found)
        return SearchResults(query=query, hits=hits)

    async def fetch(self, url: str) -> Page:
        page_id = self.site.page_id(url)
        if page_id is None:
            return Page.failure(url, "404 Not Found", status=404)
        out = self.site.extracted(page_id)
        return Page(url=url, final_url=self.site.contents[page_id].url, status=200,
                    title=out.title, text=out.text, fetched_at=time.time(), links=out.links)

    def spec(self) -> str | None:
        seed = self.config.world.seed
        if self.config == SimWebConfig(world=WorldConfig(seed=seed)):
            return "sim" if self.config == SimWebConfig() else f"sim:seed={seed}"
        return None

    def default_tasks(self) -> list[Task]:
        """The task set generated for this world (cached per configuration)."""
        return list(_default_tasks(self.config.world, self.config.tasks, self.config.task_seed))


@functools.lru_cache(maxsize=8)
def _default_tasks(world: WorldConfig, n: int, seed: int) -> tuple[Task, ...]:
    return tuple(generate_tasks(World.generate(world), n=n, seed=seed))
