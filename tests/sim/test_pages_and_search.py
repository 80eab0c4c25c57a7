"""Simulated pages (boilerplate the extractor strips) and the BM25 search engine."""

from __future__ import annotations

from webresearch.crawlers.extract import html_to_text
from webresearch.sim.search import BM25Index, Document, tokenize
from webresearch.sim.sim_web import SimSite
from webresearch.sim.world import WorldConfig


def test_pages_carry_boilerplate_that_extraction_strips() -> None:
    site = SimSite.of(WorldConfig())
    for page_id in list(site.contents)[:60]:
        html = site.html(page_id)
        assert "<nav" in html and "<footer>" in html and "<script>" in html
        text = html_to_text(html, base_url=site.contents[page_id].url).text
        assert text == site.contents[page_id].text()
        assert "cookies" not in text and "Advertisement" not in text and "analytics" not in text


def test_every_page_is_found_by_its_title() -> None:
    site = SimSite.of(WorldConfig())
    for content in site.contents.values():
        name = content.title.removesuffix(" - Simpedia")
        urls = [doc.url for doc, _ in site.index.search(name, k=3)]
        assert content.url in urls, name


def test_bm25_ranks_and_snippets() -> None:
    index = BM25Index([
        Document("Apple", "u:1", "Apples grow on trees. They are red. Pears are not apples."),
        Document("Pear", "u:2", "Pears are sweet."),
        Document("Stone", "u:3", "Stones do not grow."),
    ])
    ranked = index.search("apple trees", k=3)
    assert [d.url for d, _ in ranked] == ["u:1"]
    assert ranked[0][1] == "Apples grow on trees."
    assert [d.url for d, _ in index.search("grow", k=5)] == ["u:3", "u:1"]
    assert index.search("unknownword") == [] and index.search("the of") == []
    assert len(index.search("pears", k=1)) == 1


def test_snippets_are_bounded() -> None:
    long = " ".join(f"Sentence {i} about apples." for i in range(100))
    index = BM25Index([Document("A", "u", long)])
    (_, snippet), = index.search("apples", snippet_chars=60)
    assert len(snippet) <= 60 and snippet.endswith("...")


def test_tokenize_drops_stopwords_and_punctuation() -> None:
    assert tokenize("What is the U.S. population, in 2020?") == ["u", "s", "population", "2020"]
