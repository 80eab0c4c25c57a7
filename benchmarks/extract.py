"""HTML to text: milliseconds per page, with the BeautifulSoup fallback for comparison.

Times :func:`~webresearch.crawlers.extract.html_to_text`, lxml's parse alone (the
floor of any lxml extractor) and the BeautifulSoup fallback (on a tenth of the pages)
on the simulated site's pages padded as ``serve-web --pad-kb`` pads them (the crawl
benchmark's pages), and on the ``*.html`` files under ``--html-dir`` (real pages: a
saved site, installed documentation). Usage:
``python benchmarks/extract.py [--pad-kb 60] [--html-dir DIR]``; the last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from webresearch.crawlers.charset import decode
from webresearch.crawlers.extract import html_to_text
from webresearch.crawlers.extract_bs4 import html_to_text_bs4
from webresearch.sim.faults import Faults
from webresearch.sim.server import SimInternet, page_html


def ms_per_page(pages: list[bytes], extract: Callable[[bytes], object], repeats: int) -> float:
    """The best of ``repeats`` passes, in milliseconds per page."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for page in pages:
            extract(page)
        best = min(best, time.perf_counter() - start)
    return best / len(pages) * 1000


def parse_only(page: bytes) -> object:
    """What any lxml-based extractor pays before doing anything: decoding and parsing."""
    return etree.fromstring(decode(page), parser=etree.HTMLParser())


def sim_pages(pad_kb: int, count: int) -> list[bytes]:
    state = SimInternet(faults=Faults(pad_kb=pad_kb)).state
    ids = list(state.site.contents)[:count]
    return [(page_html(state, i) or "").encode() for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pad-kb", type=int, default=60)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--html-dir", type=Path, default=None,
                        help="time the *.html files below it as well")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sets = {"sim": sim_pages(args.pad_kb, args.pages)}
    if args.html_dir:
        files = sorted(args.html_dir.rglob("*.html"))[: args.pages]
        sets["files"] = [f.read_bytes() for f in files]
    figures: dict[str, float | int] = {"pad_kb": args.pad_kb}
    for name, pages in sets.items():
        if not pages:
            continue
        figures[f"{name}_pages"] = len(pages)
        figures[f"{name}_kb_mean"] = sum(map(len, pages)) / len(pages) / 1024
        figures[f"{name}_ms"] = ms_per_page(pages, html_to_text, args.repeats)
        figures[f"{name}_parse_ms"] = ms_per_page(pages, parse_only, args.repeats)
        sample = pages[: max(1, len(pages) // 10)]
        figures[f"{name}_bs4_ms"] = ms_per_page(sample, html_to_text_bs4, 1)
        kb, ms, parse_ms, bs4_ms = (figures[f"{name}_{k}"]
                                    for k in ("kb_mean", "ms", "parse_ms", "bs4_ms"))
        print(f"{name}: {len(pages)} pages of {kb:.0f} KB, {ms:.3f} ms each, of which "
              f"{parse_ms:.3f} parsing (BeautifulSoup {bs4_ms:.1f} ms)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
