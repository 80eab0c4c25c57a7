"""HTML to text: content kept, boilerplate dropped, links resolved, broken HTML survived."""

from __future__ import annotations

import pytest

from webresearch.crawlers.extract import html_to_text


def test_structure_is_kept_and_boilerplate_dropped() -> None:
    html = """<html><head><title> My  Page </title><style>p{}</style></head><body>
    <header>Site header</header><nav>Menu</nav>
    <div class="cookie-consent">Accept cookies</div>
    <div id="main-menu">Links</div>
    <article><h1>Heading</h1><p>First <b>bold</b> para.</p><!-- hidden comment -->
    <h2>Sub</h2><ul><li>one</li><li>two <a href="x.html">link</a></li></ul>
    <table><tr><th>Born</th><td>1900</td></tr></table>
    <script>alert(1)</script><noscript>enable js</noscript></article>
    <aside>Related</aside><footer>Footer text</footer></body></html>"""
    out = html_to_text(html, base_url="https://s.test/dir/page")
    assert out.title == "My Page"
    assert out.text == "# Heading\nFirst bold para.\n## Sub\n- one\n- two link\nBorn: 1900"
    assert out.links == ("https://s.test/dir/x.html",)


@pytest.mark.parametrize("html", [
    "", "plain text, no tags", "<p>unclosed <b>tags", "<<<>>>", "<html><body></body></html>",
    b"\xff\xfe bytes that are not utf-8", "<p>" * 5000,
], ids=["empty", "text", "unclosed", "brackets", "empty-body", "bad-bytes", "deep"])
def test_broken_html_never_raises(html: str | bytes) -> None:
    out = html_to_text(html)
    assert isinstance(out.text, str)


def test_links_skip_fragments_scripts_and_duplicates() -> None:
    html = ('<main><a href="#top">t</a><a href="javascript:x()">j</a><a href="mailto:a@b">m</a>'
            '<a href="/a">a</a><a href="/a">again</a><a href="https://o.test/">o</a></main>')
    assert html_to_text(html, base_url="https://s.test/p").links == (
        "https://s.test/a", "https://o.test/")


def test_the_fallback_gives_the_same_text() -> None:
    from webresearch.crawlers.extract_bs4 import html_to_text_bs4
    from webresearch.sim.sim_web import SimSite
    from webresearch.sim.world import WorldConfig

    site = SimSite.of(WorldConfig())
    for page_id in list(site.contents)[::10]:
        html, url = site.html(page_id), site.contents[page_id].url
        assert html_to_text_bs4(html, base_url=url) == html_to_text(html, base_url=url)


def test_bytes_and_fragments() -> None:
    assert html_to_text("<p>caf\u00e9</p>".encode()).text == "caf\u00e9"
    assert html_to_text("just <b>text</b>").text == "just text"


def test_main_text_is_never_inside_boilerplate() -> None:
    html = ("<body><aside><article>Related story</article></aside>"
            '<div class="sidebar"><main>Sidebar main</main></div>'
            "<article><p>The story</p></article></body>")
    assert html_to_text(html).text == "The story"


def test_table_rows_are_lines_of_cells() -> None:
    html = ("<table>\n  <tr>\n    <th>Born</th>\n    <td>in <b>1900</b><p>Paris</p></td>\n"
            "    <td> </td><td><a href='/x'>more</a></td>\n  </tr>\n"
            "<tr><td>Died</td><td>1980</td></tr></table><p>After</p>")
    out = html_to_text(html, base_url="https://s.test/")
    assert out.text == "Born: in 1900 Paris: more\nDied: 1980\nAfter"
    assert out.links == ("https://s.test/x",)


def test_the_fallback_renders_tables_alike() -> None:
    from webresearch.crawlers.extract_bs4 import html_to_text_bs4

    html = ("<main><table><tr><th>Born</th><td>in <b>1900</b><p>Paris</p></td><td> </td>"
            "</tr></table><ul><li>one<li>two</ul></main>")
    assert html_to_text_bs4(html) == html_to_text(html)


def test_clean_lines_matches_splitting_every_line() -> None:
    import random

    from webresearch.crawlers.extract import clean_lines

    rng = random.Random(0)
    alphabet = ["a", "b", "\u00e9", " ", "  ", "\n", "\t", "\r", "\x0b", "\x1f", "\u00a0",
                "\u2009", "\u3000", "\u200b", "\x85"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        expected = "\n".join(" ".join(w) for line in text.split("\n") if (w := line.split()))
        assert clean_lines(text) == expected, repr(text)
