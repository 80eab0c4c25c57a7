"""Attacks on the retriever server found by a hostile review: a client that never
finishes its request's headers (slowloris) holds a connection no longer than the bound."""

from __future__ import annotations

import socket
import time

from tests.corpus.test_retriever_server import DEADLINE_S, GatedSearcher, Served, post
from webresearch.corpus.retrieval_api import RetrievalLimits
from webresearch.corpus.server import RetrieverServer


def test_headers_that_never_end_are_closed_within_the_bound() -> None:
    """aiohttp's own default (an hour) let a client that sends half a request head keep
    its connection; the server closes it after ``body_timeout_s``."""
    limits = RetrievalLimits(body_timeout_s=0.5)
    gated = GatedSearcher()
    gated.gate.set()
    with Served(RetrieverServer(gated, limits=limits)) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_S) as sock:
        sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: x\r\n")  # and no blank line, ever
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server, not by our timeout
        assert time.monotonic() - started < DEADLINE_S / 2
        assert post(server.url, {"queries": ["a"], "topk": 1})[0] == 200  # it goes on
