"""The conversion worker's loop: framed requests in, framed answers out, in order."""

from __future__ import annotations

import io
import pickle

from webresearch.crawlers.convert_worker import HEADER, serve


def test_the_worker_loop_answers_in_order_and_survives_bad_input() -> None:
    requests = io.BytesIO()
    for body in (b"<p>one</p>", None, b"<p>two</p>"):  # None: convert() raises
        payload = pickle.dumps((body, "text/html", ""))
        requests.write(HEADER.pack(len(payload)) + payload)
    requests.write(b"\x00\x00")  # a torn header at the end: the loop stops
    requests.seek(0)
    answers = io.BytesIO()
    serve(requests, answers)
    answers.seek(0)
    out = []
    while header := answers.read(4):
        out.append(pickle.loads(answers.read(HEADER.unpack(header)[0])))
    assert [o.text for o in out] == ["one", "", "two"]
    assert out[1].error == "the page could not be converted (AttributeError)"
