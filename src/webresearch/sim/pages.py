"""Simulated pages: each entity as prose, infobox and links, rendered to HTML with boilerplate."""

from __future__ import annotations

import html
import random
from dataclasses import dataclass

from webresearch.sim.world import ATTRIBUTES, RELATIONS, Entity, World

__all__ = ["PageContent", "render_content", "render_html"]

Part = str | tuple[str, str]
"""Plain text, or ``(anchor text, url)`` for a link."""


@dataclass(frozen=True, slots=True)
class PageContent:
    """A page before rendering: blocks of ``(tag, parts)``, tags ``h1 h2 row p li``."""

    title: str
    url: str
    blocks: tuple[tuple[str, tuple[Part, ...]], ...]

    def text(self) -> str:
        """The readable text, as an extractor should recover it from the HTML."""
        return "\n".join(_plain(tag, parts) for tag, parts in self.blocks)


def render_content(world: World, entity: Entity) -> PageContent:
    """Build the page of ``entity``: title, infobox, prose, and lists of related entities."""
    rng = random.Random(f"{world.config.seed}/{entity.id}")
    blocks: list[tuple[str, tuple[Part, ...]]] = [("h1", (entity.name,))]
    blocks += _infobox(world, entity)
    blocks += [("p", parts) for parts in _PROSE[entity.kind](world, entity, rng)]
    for heading, items in _lists(world, entity):
        if items:
            blocks.append(("h2", (heading,)))
            blocks += [("li", item) for item in items]
    blocks.append(("h2", ("History",)))
    for _ in range(rng.randint(2, 14)):
        blocks.append(("p", (" ".join(filler_sentence(rng, entity.name) for _ in range(3)),)))
    return PageContent(f"{entity.name} - Simpedia", entity.url, tuple(blocks))


def render_html(content: PageContent, rng: random.Random) -> str:
    """Render ``content`` as a full HTML document with navigation, ads, scripts and a footer."""
    body = "\n".join(_html_block(tag, parts) for tag, parts in content.blocks)
    table_rows = [b for b in body.split("\n") if b.startswith("<tr>")]
    body = "\n".join(b for b in body.split("\n") if not b.startswith("<tr>"))
    infobox = f'<table class="infobox">{"".join(table_rows)}</table>'
    head, _, rest = body.partition("\n")
    trending = html.escape(filler_sentence(rng, "Simpedia"))
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(content.title)}</title>"
        "<style>body{font-family:serif}.infobox{float:right}</style>"
        "<script>window.analytics=function(){return 'tracking';};</script></head><body>"
        '<header><nav class="navbar"><a href="/">Main page</a> | <a href="/random">Random '
        'article</a> | <a href="/about">About Simpedia</a></nav></header>'
        '<div class="cookie-banner">We use cookies to improve your experience. Accept?</div>'
        f"<main><article>{head}{infobox}\n{rest}</article></main>"
        f'<aside class="sidebar">Trending today: {trending}</aside>'
        '<div id="ad-slot" class="ads">Advertisement: buy Simpedia premium now!</div>'
        "<footer>Text is available under a fictional licence. | Privacy policy | Contact"
        "</footer><script>analytics();</script></body></html>"
    )


def _plain(tag: str, parts: tuple[Part, ...]) -> str:
    text = "".join(p if isinstance(p, str) else p[0] for p in parts)
    prefix = {"h1": "# ", "h2": "## ", "li": "- "}.get(tag, "")
    return prefix + text


def _html_block(tag: str, parts: tuple[Part, ...]) -> str:
    inner = "".join(
        html.escape(p) if isinstance(p, str) else f'<a href="{p[1]}">{html.escape(p[0])}</a>'
        for p in parts
    )
    if tag == "row":
        label, _, value = inner.partition(": ")
        return f"<tr><th>{label}</th><td>{value}</td></tr>"
    if tag == "li":
        return f"<ul><li>{inner}</li></ul>"
    return f"<{tag}>{inner}</{tag}>"


def _article(noun: str) -> str:
    return "an" if noun[:1] in "aeiou" else "a"


def _link(entity: Entity) -> tuple[str, str]:
    return (entity.name, entity.url)


def _fmt(value: int | str, attribute: str) -> str:
    return f"{value:,}" if attribute == "population" and isinstance(value, int) else str(value)


def _infobox(world: World, entity: Entity) -> list[tuple[str, tuple[Part, ...]]]:
    rows: list[tuple[str, tuple[Part, ...]]] = []
    for name, value in entity.facts.items():
        label = ATTRIBUTES[(entity.kind, name)].label
        rows.append(("row", (f"{label}: {_fmt(value, name)}",)))
    for relation, target in entity.links.items():
        rows.append(("row", (f"{RELATIONS[relation].label}: ", _link(world.entities[target]))))
    return rows


def _lists(world: World, entity: Entity) -> list[tuple[str, list[tuple[Part, ...]]]]:
    by_relation: dict[str, list[tuple[Part, ...]]] = {}
    for relation, source in world.backlinks(entity):
        by_relation.setdefault(relation, []).append(_mention(source))
    headings = {"birthplace": "Notable people", "employer": "Notable staff",
                "country": "Cities", "headquarters": "Organizations based here",
                "founder": "Founded", "creator": "Works", "publisher": "Publications"}
    return [(headings[r], items) for r, items in by_relation.items() if r in headings]


def _mention(entity: Entity) -> tuple[Part, ...]:
    facts = ", ".join(f"{k} {_fmt(v, k)}" for k, v in entity.facts.items())
    return (_link(entity), f" ({facts})")


def _person(world: World, e: Entity, rng: random.Random) -> list[tuple[Part, ...]]:
    city = world.follow(e, "birthplace")
    country = world.follow(city, "country")
    employer = world.follow(e, "employer")
    peer = rng.choice(world.of_kind("person"))
    occupation = str(e.facts["occupation"])
    return [
        (f"{e.name} (born {e.facts['born']}), also known as {e.aliases[0]}, is "
         f"{_article(occupation)} {occupation} who was born in ", _link(city), ", a city in ",
         _link(country), "."),
        (f"{e.name} worked for ", _link(employer), " for much of a long career.",
         " Contemporaries included ", _link(peer), "."),
    ]


def _city(world: World, e: Entity, rng: random.Random) -> list[tuple[Part, ...]]:
    country = world.follow(e, "country")
    return [(f"{e.name} is a city in ", _link(country), f", founded in {e.facts['founded']}. "
             f"It has a population of {_fmt(e.facts['population'], 'population')}.")]


def _country(world: World, e: Entity, rng: random.Random) -> list[tuple[Part, ...]]:
    return [(f"{e.name}, officially the {e.aliases[0]}, is a country whose capital is ",
             _link(world.follow(e, "capital")), f". Its currency is the {e.facts['currency']} "
             f"and its official language is {e.facts['language']}.")]


def _organization(world: World, e: Entity, rng: random.Random) -> list[tuple[Part, ...]]:
    return [(f"{e.name} is an organization founded in {e.facts['founded']} by ",
             _link(world.follow(e, "founder")), " and headquartered in ",
             _link(world.follow(e, "headquarters")), ".")]


def _work(world: World, e: Entity, rng: random.Random) -> list[tuple[Part, ...]]:
    genre = str(e.facts["genre"])
    return [(f"{e.name} is {_article(genre)} {genre} released in {e.facts['year']}, created by ",
             _link(world.follow(e, "creator")), " and published by ",
             _link(world.follow(e, "publisher")), ".")]


_PROSE = {"person": _person, "city": _city, "country": _country,
          "organization": _organization, "work": _work}

_FILLER = (
    "In {year}, {name} was the subject of a long dispute over {thing}.",
    "Historians note that {name} changed considerably after {year}, when {thing} arrived.",
    "A {adjective} account of {name} was published in {year}, focusing on {thing}.",
    "Local records from {year} mention {name} alongside the {adjective} {thing}.",
    "Visitors often describe {name} as {adjective}, a reputation dating to {year}.",
)
_THINGS = ("the river trade", "a new railway", "the great fire", "the salt tax", "a printing press",
           "the winter fair", "the harbor reforms", "a travelling orchestra", "the canal works")
_ADJECTIVES = ("detailed", "controversial", "celebrated", "brief", "forgotten", "lively")


def filler_sentence(rng: random.Random, name: str) -> str:
    return rng.choice(_FILLER).format(
        name=name, year=rng.randint(1000, 2020), thing=rng.choice(_THINGS),
        adjective=rng.choice(_ADJECTIVES),
    )
