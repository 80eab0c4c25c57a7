"""The live backend aimed at a running ``webresearch serve-web``: ``web="serve:<URL>"``.

The live backend refuses loopback and private addresses (a policy must not reach the
machine's own services), so ``live:searxng`` with ``$SEARXNG_URL`` at a local
``serve-web`` gets every search refused. This preset confines the backend to exactly
the server's host and port: another port of that host (another local service), any
other host, and a redirect to either are refused, as observations.
"""

from __future__ import annotations

from dataclasses import dataclass

from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.errors import ConfigError
from webresearch.net.http import HttpConfig
from webresearch.net.rate_limit import Rate
from webresearch.net.safety import UrlPolicy
from webresearch.net.urls import endpoint, server_url
from webresearch.sim.server import served_tasks
from webresearch.sim.sim_web import SimWeb, SimWebConfig
from webresearch.sim.world import WorldConfig
from webresearch.tasks import Task

__all__ = ["ServedWeb", "ServedWebConfig", "parse_served_spec", "served_spec"]

_SPEC = "'serve:<http://host:port of webresearch serve-web>[#seed=<world seed>]'"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedWebConfig:
    """Where ``serve-web`` listens and which world it serves."""

    base_url: str
    """The server's root, as ``serve-web`` prints it (``http://127.0.0.1:8080``)."""
    world_seed: int = 0
    """The ``--world-seed`` the server was started with (its tasks are this world's)."""

    def __post_init__(self) -> None:
        server_url(self.base_url, _SPEC)

    @property
    def endpoint(self) -> str:
        """The server's ``host:port`` (``[v6]:port``), the one endpoint the URL policy opens.

        Example:
            >>> ServedWebConfig(base_url="http://[::1]:8080").endpoint
            '[::1]:8080'
        """
        return endpoint(self.base_url)

    @property
    def root(self) -> str:
        """The base URL without a trailing slash."""
        return self.base_url.rstrip("/")


def parse_served_spec(arg: str) -> ServedWebConfig:
    """Read what follows ``serve:`` in a web spec.

    Example:
        >>> parse_served_spec("http://127.0.0.1:8080#seed=3")
        ServedWebConfig(base_url='http://127.0.0.1:8080', world_seed=3)
        >>> parse_served_spec("127.0.0.1:8080")
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects 'serve:<http://host:port of webresearch ...
    """
    url, _, options = arg.partition("#")
    seed = 0
    if options:
        try:
            seed = int(options.removeprefix("seed="))
        except ValueError:
            raise ConfigError(f"Expects {_SPEC}, actual: 'serve:{arg}'") from None
    return ServedWebConfig(base_url=url, world_seed=seed)


def served_spec(base_url: str, world_seed: int = 0) -> str:
    """The web spec that reaches a server at ``base_url`` (what ``serve-web`` prints).

    Example:
        >>> served_spec("http://127.0.0.1:8080", world_seed=2)
        'serve:http://127.0.0.1:8080#seed=2'
    """
    return f"serve:{base_url}" + (f"#seed={world_seed}" if world_seed else "")


class ServedWeb(LiveWeb):
    """The live web backend, unchanged but for three settings, on a local ``serve-web``.

    * Searches go to the server's SearXNG API (no key needed).
    * The URL policy reaches the server's host and port, and nothing else: another port
      of the host, another host (public ones too: the served world is closed) and a
      redirect to either come back as a page with an error.
    * No disk cache and no per-host politeness limit: the simulated world's answers
      must not mix with the real web's in the shared cache, and the server is a local
      simulator, not someone else's site.

    Its default tasks are the served world's, with their pages at the server's URLs.

    Example:
        >>> import asyncio
        >>> from webresearch.sim.server import SimInternet
        >>> async def demo() -> bool:
        ...     async with SimInternet() as net, ServedWeb(net.base_url) as web:
        ...         task = web.default_tasks()[0]
        ...         hits = (await web.search(task.supporting[0].title)).hits
        ...         return task.supporting[0].url in [hit.url for hit in hits]
        >>> asyncio.run(demo())
        True
    """

    def __init__(self, config: ServedWebConfig | str) -> None:
        if isinstance(config, str):
            config = parse_served_spec(config)
        self.served = config
        super().__init__(LiveWebConfig(
            engine="searxng", endpoint=f"{config.root}/searxng", api_key=None,
            http=HttpConfig(url_policy=UrlPolicy(only_endpoints=(config.endpoint,))),
            host_rate=Rate(per_second=10_000.0, burst=1_000),
            search_rate=Rate(per_second=10_000.0, burst=1_000), cache_dir=None))

    def default_tasks(self) -> list[Task]:
        """The tasks of the served world, their supporting pages at the server's URLs."""
        world = SimWebConfig(world=WorldConfig(seed=self.served.world_seed))
        return served_tasks(SimWeb(world).default_tasks(), self.served.root)
