"""Normalised URLs and queries, so that the same resource or search has one cache key."""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["normalize_query", "normalize_url", "origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_ga", "ref_src")


@functools.lru_cache(maxsize=1 << 16)  # a fetch asks for one URL's key several times
def normalize_url(url: str) -> str:
    """A canonical form: lower-case scheme and host, no default port, fragment or tracking.

    Example:
        >>> normalize_url("HTTPS://Example.COM:443/a/b?utm_source=x&z=1&a=2#top")
        'https://example.com/a/b?a=2&z=1'
        >>> normalize_url("http://example.com")
        'http://example.com/'
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if ":" in host and not host.startswith("["):  # IPv6 literal
        netloc = f"[{host}]" + netloc[len(host):]
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not k.lower().startswith(_TRACKING))
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, the unit of robots.txt and per-host limits.

    Example:
        >>> origin("https://Example.com/a?b")
        'https://example.com'
    """
    parts = urlsplit(normalize_url(url))
    return f"{parts.scheme}://{parts.netloc}"


def normalize_query(query: str) -> str:
    """A search query's cache form: case-folded, whitespace collapsed.

    Example:
        >>> normalize_query("  Who   FOUNDED\\tPogre? ")
        'who founded pogre?'
    """
    return " ".join(query.casefold().split())
