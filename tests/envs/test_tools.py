"""Page segments: the same cuts as the obvious loop, in linear time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.envs.tools import split_segments


def reference_segments(text: str, size: int) -> list[str]:
    """The obvious loop, which copies the rest of the text at each cut (quadratic)."""
    segments: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, size + 1)
        if cut <= 0:
            cut = size
        segments.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n ")
    segments.append(text)
    return segments


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \n\t\r\u00a0\ud800"), max_size=300),
       st.integers(min_value=1, max_value=40))
def test_segments_match_the_reference(text: str, size: int) -> None:
    assert split_segments(text, size) == reference_segments(text, size)


def test_every_segment_fits_and_a_long_page_is_cut_fast() -> None:
    text = "x" * (1 << 22)  # 4 MiB without a space: the reference copied 16 GB
    segments = split_segments(text, 500)
    assert len(segments) == (1 << 22) // 500 + 1 and all(len(s) <= 500 for s in segments)
