"""Leak measurement and the blocklist against what a hostile review tried: a gold answer
beside Unicode punctuation or in fullwidth letters is still seen; a blocked host or path
spelled as the HTTP client would still reach it (root dot, IDNA lookalikes, case,
userinfo, port, percent-escapes, dot segments, doubled slashes) is still blocked."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webresearch.envs.blocklist import Blocklist
from webresearch.envs.leaks import LeakProbe
from webresearch.tasks import Task
from webresearch.web.leaks import LeakKind

PROBE = LeakProbe.of(Task(id="t", question="Which city is the capital of France?",
                          answers=("Paris", "Ville Lumière")))


@pytest.mark.parametrize("text", ["“Paris”", "«Paris»", "Paris—France", "ＰＡＲＩＳ",
                                  "巴黎（Paris）。", "„Ville Lumière“", "¿Paris?"])
def test_an_answer_beside_unicode_punctuation_is_seen(text: str) -> None:
    assert [kind for kind, _ in PROBE.find(text)] == [LeakKind.ANSWER]


@pytest.mark.parametrize("text", ["Parisian", "“Parisienne”", "Ville Lumièreux", "Pa·ris"])
def test_words_that_contain_an_answer_are_not_it(text: str) -> None:
    assert PROBE.find(text) == []


def test_a_long_unicode_observation_takes_linear_time() -> None:
    def took(n: int) -> float:
        text = "“Pari” " * n
        started = time.process_time()
        PROBE.find(text)
        return time.process_time() - started

    took(1000)
    small, large = took(20_000), took(200_000)
    assert large < 30 * max(small, 1e-3)  # ten times the text: about ten times the work


BLOCK = Blocklist(["kaggle.com", "huggingface.co/datasets"])


def _spelled(host: str, draw: st.DrawFn) -> str:
    fullwidth = {c: chr(ord(c) + 0xFEE0) for c in "abcdefghijklmnopqrstuvwxyz"}
    out = "".join(draw(st.sampled_from([c, c.upper(), fullwidth.get(c, c)])) if c != "."
                  else draw(st.sampled_from([".", "。", "．"])) for c in host)
    return out + draw(st.sampled_from(["", "."]))


@st.composite
def blocked_urls(draw: st.DrawFn) -> str:
    host, path = draw(st.sampled_from([("kaggle.com", "/c/x"),
                                       ("huggingface.co", "/datasets/nq")]))
    first, rest = path[1:].split("/", 1)
    escaped = "".join(draw(st.sampled_from([c, f"%{ord(c):02x}", f"%{ord(c):02X}"]))
                      for c in first)
    prefix = draw(st.sampled_from(["/", "//", "/./", "/x/../", "/a/b/../../"]))
    user = draw(st.sampled_from(["", "u@", "u:p@"]))
    port = draw(st.sampled_from(["", ":443", ":8080", ":99999", ":abc"]))  # shown, if not read
    sub = draw(st.sampled_from(["", "www.", "data."]))
    return f"https://{user}{sub}{_spelled(host, draw)}{port}{prefix}{escaped}/{rest}"


@pytest.mark.parametrize("url", ["https://kaggle.com\\@evil.test/x",
                                 "https://kaggle.com:99999/x"])
def test_a_url_the_http_client_cannot_read_is_still_blocked_as_a_search_hit(url: str) -> None:
    """A search hit's title and snippet are shown whatever its URL; urlsplit and browsers
    read these hosts as kaggle.com."""
    assert BLOCK.match(url) == "kaggle.com"


@given(url=blocked_urls())
def test_a_blocked_place_spelled_otherwise_is_still_blocked(url: str) -> None:
    assert BLOCK.match(url) is not None, url


@pytest.mark.parametrize("url", ["https://kaggle.community/x", "https://huggingface.co/datasetsx",
                                 "https://huggingface.co/models/x", "https://notkaggle.com/",
                                 "https://kaggle.com.evil.test/x", "https://kaggle.com@evil.test/",
                                 "not a url", "http://[::1]/x"])
def test_near_misses_are_not_blocked(url: str) -> None:
    assert BLOCK.match(url) is None


def test_a_leak_s_domain_has_no_root_dot() -> None:
    from webresearch.web.leaks import domain_of

    assert domain_of("https://www.Kaggle.com./x") == domain_of("https://kaggle.com/") \
        == "kaggle.com"
