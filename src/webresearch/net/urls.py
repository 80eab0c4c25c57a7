"""Normalised URLs and queries, so that the same resource or search has one cache key."""

from __future__ import annotations

import functools
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from webresearch.errors import ConfigError

__all__ = ["endpoint", "normalize_query", "normalize_url", "origin", "public_text",
           "public_url", "server_url"]

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


def server_url(url: str, spec: str, paths: tuple[str, ...] = ("",)) -> SplitResult:
    """``url`` split, when it names an HTTP(S) server by host and port (a number) with
    one of ``paths`` (no query, no user); else a :class:`ConfigError` that shows ``spec``.

    Example:
        >>> server_url("http://127.0.0.1:8000/retrieve", "'x:<url>'", ("", "/retrieve")).port
        8000
        >>> server_url("127.0.0.1:8000", "'x:<url>'")
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects 'x:<url>', actual: '127.0.0.1:8000'
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is no number raises here
    except ValueError:
        raise ConfigError(f"Expects {spec}, actual: {url!r}") from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query
            or parts.username or parts.path.rstrip("/") not in paths):
        raise ConfigError(f"Expects {spec}, actual: {url!r}")
    return parts


def endpoint(url: str) -> str:
    """The ``host:port`` (``[v6]:port``) of an HTTP(S) URL, its scheme's port by default:
    the one endpoint a URL policy opens for a server.

    Example:
        >>> endpoint("http://[::1]:8080/"), endpoint("https://example.test")
        ('[::1]:8080', 'example.test:443')
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def public_url(url: str) -> str:
    """``url`` without what may be secret: no user, password, query or fragment.

    Example:
        >>> public_url("https://user:key@api.example.com/v1/?key=s#x")
        'https://api.example.com/v1'
    """
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s,;'\"]+")


def public_text(text: str) -> str:
    """``text`` with every URL in it made :func:`public_url` (a command line, a web spec).

    Example:
        >>> public_text("serve:http://u:p@127.0.0.1:8080/?key=s#seed=3")
        'serve:http://127.0.0.1:8080'
    """
    if "://" not in text:
        return text
    return _URL.sub(lambda m: public_url(m[0]), text)
