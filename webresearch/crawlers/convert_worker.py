"""A conversion worker: ``python -m webresearch.crawlers.convert_worker``.

It reads requests on stdin and writes answers, in the same order, on stdout; each is a
4-byte big-endian length, then a pickle: ``(body, content_type, url)`` in, a
:class:`~webresearch.crawlers.content.Converted` out. It stops at the end of its input,
that is, when its parent closes the pipe or dies.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import BinaryIO

from webresearch.crawlers.content import Converted, convert

__all__ = ["HEADER", "serve"]

HEADER = struct.Struct("!I")
"""The length that comes before every message."""


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The worker's loop: convert each request, answer in order, stop at end of input."""
    while (header := _read_exactly(requests, HEADER.size)) is not None:
        payload = _read_exactly(requests, HEADER.unpack(header)[0])
        if payload is None:
            return
        body, content_type, url = pickle.loads(payload)
        try:
            out = convert(body, content_type, url=url)
        except Exception as exc:  # a worker answers every request
            out = Converted(error=f"the page could not be converted ({type(exc).__name__})")
        data = pickle.dumps(out)
        answers.write(HEADER.pack(len(data)))
        answers.write(data)
        answers.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    serve(sys.stdin.buffer, answers)
