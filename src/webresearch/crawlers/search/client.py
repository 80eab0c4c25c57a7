"""What a search API client is, and the secret that authenticates it."""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from webresearch.errors import ConfigError, InputTooDeep
from webresearch.net.http import HttpClient, Response
from webresearch.net.secrets import Secret, redact
from webresearch.untrusted import loads_json
from webresearch.web.backend import SearchHit, SearchResults

__all__ = ["MAX_QUERY_CHARS", "SearchEngine", "clean", "text_field"]

MAX_QUERY_CHARS = 2048
"""The longest query sent to a search API (Google's own limit is about 2,048 characters);
a longer one is a world failure the agent reads, not a request."""

_TAGS = re.compile(r"<[^<>]*>")
"""A tag: no ``<`` inside, so each ``<`` is tried once (``<[^>]+>`` is quadratic on
``<<<<``...)."""


class SearchEngine(abc.ABC):
    """A web search API: one request per query, hits parsed from its JSON.

    Subclasses say how to ask (:meth:`_send`) and how to read the answer
    (:meth:`_hits`); errors, quotas and malformed answers become
    ``SearchResults.error``, never exceptions.
    """

    name: ClassVar[str]
    default_endpoint: ClassVar[str | None] = None
    endpoint_variable: ClassVar[str | None] = None
    """Environment variable with the endpoint, for engines that have no public one."""
    key_variable: ClassVar[str | None] = None
    """Environment variable with the API key, for engines that need one."""

    def __init__(self, http: HttpClient, *, endpoint: str | None = None,
                 api_key: str | Secret | None = None) -> None:
        self.http = http
        self.endpoint, self.api_key = self.settings(endpoint, api_key)

    @classmethod
    def settings(cls, endpoint: str | None = None, api_key: str | Secret | None = None
                 ) -> tuple[str, Secret | None]:
        """The endpoint and key this engine would use (the environment's where not given);
        a :class:`~webresearch.errors.ConfigError` naming the variable to set if one it
        needs is missing. No request is made: a command checks this before its first episode.
        """
        variable = os.environ.get(cls.endpoint_variable) if cls.endpoint_variable else None
        endpoint = endpoint or variable or cls.default_endpoint
        if not endpoint:
            where = f" or set ${cls.endpoint_variable}" if cls.endpoint_variable else ""
            raise ConfigError(f"Expects an endpoint URL for {cls.name} (endpoint=...{where}), "
                              "actual: none")
        key = (Secret.from_env(api_key, cls.key_variable, engine=cls.name)
               if cls.key_variable else None)
        return endpoint.rstrip("/"), key

    def _key(self) -> str:
        assert self.api_key is not None
        return self.api_key.reveal()

    @property
    def rate_key(self) -> str:
        return f"search:{self.name}"

    async def search(self, query: str, *, k: int = 10) -> SearchResults:
        if len(query) > MAX_QUERY_CHARS:  # no engine takes it; a megabyte would be sent
            return SearchResults(query=query[:100] + "...", error=(
                f"the query is {len(query)} characters long; a search takes at most "
                f"{MAX_QUERY_CHARS}"))
        response = await self._send(query, k)
        if response.error is not None:
            return SearchResults(query=query, error=self._explain(response))
        try:
            data = loads_json(response.body)
            hits = self._hits(data)
        except InputTooDeep:
            return SearchResults(query=query, error=f"{self.name} answered with JSON nested "
                                                    "too deeply to read")
        except (ValueError, KeyError, TypeError, AttributeError):
            return SearchResults(query=query, error=f"{self.name} answered with an unexpected "
                                                    "response (not the documented JSON)")
        return SearchResults(query=query, hits=tuple(hits[:k]))

    @abc.abstractmethod
    async def _send(self, query: str, k: int) -> Response:
        """Send the API request for ``query``."""

    @abc.abstractmethod
    def _hits(self, data: Any) -> list[SearchHit]:
        """Read hits from the decoded JSON answer."""

    def _explain(self, response: Response) -> str:
        """A message for a failed call: the API's own words where it gave some, with every
        known secret redacted."""
        detail = _api_message(response.body)
        if response.status in (401, 403):
            base = f"{self.name} rejected the API key or the request (HTTP {response.status})"
        elif response.status == 429:
            base = f"{self.name} quota or rate limit exceeded (HTTP 429)"
        else:
            base = f"{self.name} search failed: {response.error}"
        return redact(f"{base}: {detail}" if detail else base)  # a server may echo the key


def clean(text: Any) -> str:
    """Snippet text without HTML tags or runs of whitespace; "" for anything but text.

    Example:
        >>> clean("<b>Ada</b>  Lovelace"), clean({"nested": "object"}), clean(None)
        ('Ada Lovelace', '', '')
    """
    return " ".join(_TAGS.sub("", text).split()) if isinstance(text, str) else ""


def text_field(record: Any, key: str) -> str:
    """The string at ``record[key]``; a ``TypeError`` (an unexpected response) if it is not.

    Example:
        >>> text_field({"link": "https://a.test/"}, "link")
        'https://a.test/'
    """
    value = record[key]
    if not isinstance(value, str):
        raise TypeError(f"expects {key!r} to be a string, actual: {type(value).__name__}")
    return value


def _api_message(body: bytes) -> str:
    try:
        data = loads_json(body)
    except ValueError:
        return ""
    if isinstance(data, Mapping):
        for key in ("message", "error", "detail"):
            value = data.get(key)
            if isinstance(value, Mapping):
                value = value.get("detail") or value.get("message")
            if isinstance(value, str) and value:
                return value[:200]
    return ""
