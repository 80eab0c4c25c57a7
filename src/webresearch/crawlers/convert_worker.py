"""A conversion worker: ``python -m webresearch.crawlers.convert_worker [--memory-mb N]``.

It reads requests on stdin and writes answers, in the same order, on stdout. A request
is a :data:`REQUEST` header (the lengths of a JSON object ``{"content_type", "url"}``
and of the body), the object, then the body; an answer is a :data:`HEADER` length,
then a JSON object of a :class:`~webresearch.crawlers.content.Converted`'s title,
links and error, and its text (:func:`encode_answer`). JSON and raw text both ways:
the parent never unpickles what a process that parsed untrusted bytes wrote. The
process caps its own address space (``--memory-mb``), so a page that needs more is a
page error, and it stops at the end of its input, that is, when its parent closes
the pipe or dies.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import sys
from typing import Any, BinaryIO

from webresearch.crawlers.content import Converted, convert

__all__ = ["ANSWER_LIMIT", "HEADER", "REQUEST", "decode_answer", "encode_answer",
           "encode_request", "serve"]

HEADER = struct.Struct("!I")
"""The length that comes before every answer."""
REQUEST = struct.Struct("!II")
"""The lengths of a request's JSON object and of its body."""
ANSWER_LIMIT = 16 * 2**20
"""The largest answer in bytes; a page whose text is larger is a page error."""


def encode_request(body: bytes, content_type: str | None, url: str) -> bytes:
    """One framed request.

    Example:
        >>> frame = encode_request(b"<p>x</p>", "text/html", "")
        >>> REQUEST.unpack(frame[:REQUEST.size]), frame[-8:]
        ((40, 8), b'<p>x</p>')
    """
    meta = json.dumps({"content_type": content_type, "url": url}).encode()
    return REQUEST.pack(len(meta), len(body)) + meta + body


def encode_answer(out: Converted) -> bytes:
    """One framed answer (a page error in place of one over :data:`ANSWER_LIMIT`): the
    length, then the length of a JSON object of the short fields, the object, and the
    text as raw UTF-8 (JSON-escaping a page's text would cost the parent 10 times more
    to read)."""
    data = _dumps(out)
    if len(data) > ANSWER_LIMIT:
        data = _dumps(Converted(error=f"the page's text is too large to use "
                                      f"({len(data)} bytes, limit {ANSWER_LIMIT})"))
    return HEADER.pack(len(data)) + data


def _dumps(out: Converted) -> bytes:
    meta = json.dumps({"title": out.title, "links": list(out.links), "error": out.error},
                      ensure_ascii=False).encode("utf-8", "surrogatepass")
    return HEADER.pack(len(meta)) + meta + out.text.encode("utf-8", "surrogatepass")


def decode_answer(data: bytes) -> Converted:
    """An answer's :class:`Converted`, checked field by field.

    Raises:
        ValueError: ``data`` is not a well-formed answer.

    Example:
        >>> decode_answer(encode_answer(Converted("T", "text", ("https://a.test/",)))[4:])
        Converted(title='T', text='text', links=('https://a.test/',), error=None)
    """
    if len(data) < HEADER.size:
        raise ValueError(f"Expects an answer of at least {HEADER.size} bytes, "
                         f"actual: {len(data)}")
    (size,) = HEADER.unpack_from(data)
    fields: Any = json.loads(data[HEADER.size:HEADER.size + size].decode("utf-8", "surrogatepass"))
    if not isinstance(fields, dict) or set(fields) != {"title", "links", "error"}:
        raise ValueError(f"Expects an answer object, actual: {type(fields).__name__}")
    title, links, error = (fields[k] for k in ("title", "links", "error"))
    if not (isinstance(title, str) and isinstance(links, list)
            and all(isinstance(link, str) for link in links)
            and (error is None or isinstance(error, str))):
        raise ValueError("Expects an answer of strings, actual: other types")
    text = data[HEADER.size + size:].decode("utf-8", "surrogatepass")
    return Converted(title, text, tuple(links), error)


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _convert(meta: bytes, body: bytes) -> Converted:
    try:
        fields = json.loads(meta)
        return convert(body, fields["content_type"], url=fields["url"])
    except MemoryError:
        return Converted(error="the page needs more memory to convert than a converter has")
    except Exception as exc:  # a worker answers every request
        return Converted(error=f"the page could not be converted ({type(exc).__name__})")


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The worker's loop: convert each request, answer in order, stop at end of input."""
    while (header := _read_exactly(requests, REQUEST.size)) is not None:
        meta_size, body_size = REQUEST.unpack(header)
        meta, body = _read_exactly(requests, meta_size), _read_exactly(requests, body_size)
        if meta is None or body is None:
            return
        try:
            answer = encode_answer(_convert(meta, body))
        except MemoryError:  # the text fit, its JSON did not
            answer = encode_answer(Converted(error="the page's text is too large to use"))
        answers.write(answer)
        answers.flush()


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space; allocations past it raise ``MemoryError``."""
    import resource  # noqa: PLC0415 - POSIX only, and only in the worker

    limit = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert response bodies to text.")
    parser.add_argument("--memory-mb", type=int, default=0,
                        help="address-space limit in MiB (0: none)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    if args.memory_mb > 0:
        limit_memory(args.memory_mb)
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
