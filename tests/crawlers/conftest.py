"""Loopback fixtures: the simulated internet and live backends aimed at it."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from typing import Any

from webresearch.crawlers.live import LiveWeb, LiveWebConfig
from webresearch.net.http import HttpConfig
from webresearch.net.rate_limit import Rate
from webresearch.net.retry import RetryPolicy
from webresearch.net.safety import UrlPolicy
from webresearch.sim.server import SimInternet

LOOPBACK = UrlPolicy(allow=("127.0.0.0/8",))
FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, max_backoff_s=0.05)


def live(net: SimInternet, *, engine: str = "serper", cache: bool = True,
         http: dict[str, Any] | None = None, **options: Any) -> LiveWeb:
    """A LiveWeb aimed at ``net``, loopback allowed, fast retries, a fresh cache."""
    endpoint = {"serper": "/serper", "searxng": "/searxng", "brave": "/brave"}[engine]
    http_config = replace(HttpConfig(url_policy=LOOPBACK, retry=FAST_RETRY), **(http or {}))
    options.setdefault("host_rate", Rate(per_second=1000.0, burst=1000))
    config = LiveWebConfig(engine=engine, endpoint=net.base_url + endpoint, api_key="test-key",
                           http=http_config, cache_dir=tempfile.mkdtemp() if cache else None,
                           **options)
    return LiveWeb(config)
