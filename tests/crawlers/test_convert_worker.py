"""The conversion worker's loop: framed JSON requests in, framed JSON answers out, in order."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webresearch.crawlers.content import Converted
from webresearch.crawlers.convert_worker import (
    HEADER,
    REQUEST,
    decode_answer,
    encode_answer,
    encode_request,
    serve,
)


def run(requests: bytes) -> list[Converted]:
    answers = io.BytesIO()
    serve(io.BytesIO(requests), answers)
    answers.seek(0)
    out = []
    while header := answers.read(4):
        out.append(decode_answer(answers.read(HEADER.unpack(header)[0])))
    return out


def test_the_worker_loop_answers_in_order_and_survives_bad_input() -> None:
    requests = b"".join(encode_request(body, kind, "") for body, kind in (
        (b"<p>one</p>", "text/html"), (b"x", "text/plain; charset=\x00"), (b"<p>two</p>", None)))
    broken = REQUEST.pack(9, 0) + b"{not json"  # convert() cannot run: still answered
    out = run(requests + broken + b"\x00\x00")  # a torn header at the end: the loop stops
    assert [o.text for o in out[:3]] == ["one", "x", "two"]
    assert out[3].error == "the page could not be converted (JSONDecodeError)"
    assert len(out) == 4


def test_a_text_too_large_to_answer_is_a_page_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from webresearch.crawlers import convert_worker

    monkeypatch.setattr(convert_worker, "ANSWER_LIMIT", 100)
    out = run(encode_request(b"x" * 200, "text/plain", ""))
    assert (out[0].error or "").startswith("the page's text is too large to use")


ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates included


@given(st.builds(Converted, ANY_TEXT, ANY_TEXT, st.lists(ANY_TEXT).map(tuple),
                 st.none() | ANY_TEXT))
def test_answers_round_trip(out: Converted) -> None:
    assert decode_answer(encode_answer(out)[HEADER.size:]) == out


def meta(fields: bytes) -> bytes:
    return HEADER.pack(len(fields)) + fields


@pytest.mark.parametrize(("data", "message"), [
    (meta(b"[]"), "Expects an answer object, actual: list"),
    (meta(b'{"title": 1, "links": [], "error": null}'), "Expects an answer of strings"),
    (meta(b'{"title": "", "links": [1], "error": null}'), "Expects an answer of strings"),
    (meta(b"{}"), "Expects an answer object, actual: dict"),
    (meta(b"\x80"), "can't decode byte 0x80"),
    (meta(b'{"title": "", "links": [], "error": null}')[:-1], "Expecting ','"),
    (b"\x00", "Expects an answer of at least 4 bytes, actual: 1"),
], ids=["list", "title", "links", "empty", "utf8", "torn", "short"])
def test_malformed_answers_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        decode_answer(data)
