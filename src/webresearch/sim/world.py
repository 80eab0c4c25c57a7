"""The simulated world: fictional entities, their facts and the relations between them.

Their names are pronounceable and fictional, so that no pretrained model knows the world.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

__all__ = ["ATTRIBUTES", "RELATIONS", "Attribute", "Entity", "NameGenerator", "Relation", "World",
           "WorldConfig"]

BASE_URL = "https://simpedia.test/wiki/"


@dataclass(frozen=True, slots=True)
class Relation:
    """A functional relation: every ``source`` entity points to exactly one ``target``."""

    name: str
    source: str
    target: str
    phrase: str
    """Noun phrase naming the target, ``{}`` standing for the source."""
    label: str
    """Infobox label."""
    keyword: str
    """The word of :attr:`phrase` that, searched beside the source's name, shows the target."""


@dataclass(frozen=True, slots=True)
class Attribute:
    """A fact of an entity kind that questions can ask for."""

    name: str
    kind: str
    question: str
    """Question about the fact, ``{}`` standing for the entity's noun phrase."""
    label: str
    keyword: str
    """The word of :attr:`question` that, searched beside the name, shows the fact."""
    numeric: bool = False
    comparison: str = ""
    """Question comparing two entities by this fact (lower value wins), or "" if none."""


RELATIONS: dict[str, Relation] = {r.name: r for r in (
    Relation("birthplace", "person", "city", "the city where {} was born", "Born in", "born"),
    Relation("employer", "person", "organization", "the employer of {}", "Employer", "employer"),
    Relation("country", "city", "country", "the country in which {} lies", "Country", "country"),
    Relation("headquarters", "organization", "city", "the city where {} is headquartered",
             "Headquarters", "headquartered"),
    Relation("founder", "organization", "person", "the founder of {}", "Founder", "founder"),
    Relation("creator", "work", "person", "the creator of {}", "Created by", "creator"),
    Relation("publisher", "work", "organization", "the publisher of {}", "Publisher", "publisher"),
    Relation("capital", "country", "city", "the capital of {}", "Capital", "capital"),
)}

ATTRIBUTES: dict[tuple[str, str], Attribute] = {(a.kind, a.name): a for a in (
    Attribute("born", "person", "In what year was {} born?", "Born", "born", numeric=True,
              comparison="Who was born earlier, {} or {}?"),
    Attribute("occupation", "person", "What was the occupation of {}?", "Occupation", "occupation"),
    Attribute("founded", "city", "In what year was {} founded?", "Founded", "founded", numeric=True,
              comparison="Which city was founded earlier, {} or {}?"),
    Attribute("population", "city", "What is the population of {}?", "Population", "population",
              numeric=True),
    Attribute("founded", "organization", "In what year was {} founded?", "Founded", "founded",
              numeric=True, comparison="Which organization was founded earlier, {} or {}?"),
    Attribute("year", "work", "In what year was {} released?", "Released", "released", numeric=True,
              comparison="Which work came out first, {} or {}?"),
    Attribute("genre", "work", "What is the genre of {}?", "Genre", "genre"),
    Attribute("currency", "country", "What is the currency of {}?", "Currency", "currency"),
    Attribute("language", "country", "What is the official language of {}?", "Language",
              "language"),
)}

_OCCUPATIONS = ("painter", "chemist", "novelist", "architect", "composer", "astronomer",
                "cartographer", "sculptor", "engineer", "botanist", "poet", "physician")
_GENRES = ("novel", "film", "album", "opera", "poem cycle", "documentary")


@dataclass(frozen=True, slots=True)
class Entity:
    """One page-worthy thing of the world.

    Attributes:
        id: Stable slug, also the last part of the page URL.
        kind: One of ``person``, ``city``, ``country``, ``organization``, ``work``.
        name: Display name, unique in the world.
        aliases: Other names that count as correct answers.
        facts: Attribute name to value (``int`` for years and counts).
        links: Relation name to the target entity's id.
    """

    id: str
    kind: str
    name: str
    aliases: tuple[str, ...] = ()
    facts: Mapping[str, int | str] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return BASE_URL + self.id


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """Size and seed of a simulated world."""

    seed: int = 0
    """Everything (names, facts, pages, tasks) is a function of this seed."""
    countries: int = 12
    cities: int = 60
    organizations: int = 60
    people: int = 240
    works: int = 120

    def scaled(self, factor: int) -> WorldConfig:
        """The same world's recipe with ``factor`` times as many entities of every kind.

        Example:
            >>> WorldConfig(seed=3).scaled(2).people
            480
        """
        kinds = ("countries", "cities", "organizations", "people", "works")
        return replace(self, **{kind: getattr(self, kind) * factor for kind in kinds})


class World:
    """A generated world of entities; deterministic for a given :class:`WorldConfig`.

    Example:
        >>> world = World.generate(WorldConfig(seed=1, people=20, works=10))
        >>> person = world.of_kind("person")[0]
        >>> world.follow(person, "birthplace").kind
        'city'
    """

    def __init__(self, config: WorldConfig, entities: list[Entity]) -> None:
        self.config = config
        self.entities: dict[str, Entity] = {e.id: e for e in entities}
        self._kinds: dict[str, list[Entity]] = defaultdict(list)
        self._backlinks: dict[str, list[tuple[str, Entity]]] = defaultdict(list)
        for entity in entities:
            self._kinds[entity.kind].append(entity)
            for relation, target in entity.links.items():
                self._backlinks[target].append((relation, entity))

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def generate(config: WorldConfig) -> World:
        """Generate (or return the cached) world for ``config``."""
        return _Builder(config).build()

    def of_kind(self, kind: str) -> list[Entity]:
        return self._kinds[kind]

    def follow(self, entity: Entity, relation: str) -> Entity:
        """The entity that ``relation`` points to from ``entity``."""
        return self.entities[entity.links[relation]]

    def backlinks(self, entity: Entity) -> list[tuple[str, Entity]]:
        """``(relation, source)`` pairs of the entities whose relations point here."""
        return self._backlinks[entity.id]


class _Builder:
    """Draws entities in dependency order: countries, cities, people, organizations, works."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.names = NameGenerator(self.rng)
        self.entities: list[Entity] = []

    def build(self) -> World:
        c, rng = self.config, self.rng
        countries = [self._country() for _ in range(c.countries)]
        cities = [self._city(countries[i % len(countries)], capital=i < len(countries))
                  for i in range(c.cities)]
        capitals = {city.links["country"]: city.id for city in cities[: len(countries)]}
        countries = [_with_link(country, "capital", capitals[country.id]) for country in countries]
        people = [self._person(rng.choice(cities)) for _ in range(c.people)]
        orgs = [self._organization(rng.choice(cities), rng.choice(people))
                for _ in range(c.organizations)]
        people = [_with_link(p, "employer", rng.choice(orgs).id) for p in people]
        works = [self._work(rng.choice(people), rng.choice(orgs)) for _ in range(c.works)]
        return World(c, [*countries, *cities, *people, *orgs, *works])

    def _country(self) -> Entity:
        name = self.names.place()
        facts: dict[str, int | str] = {"currency": f"{self.names.word(2)} mark",
                                       "language": f"{name}ese"}
        return Entity(_slug(name), "country", name, (f"Republic of {name}",), facts)

    def _city(self, country: Entity, *, capital: bool) -> Entity:
        name = self.names.place()
        facts: dict[str, int | str] = {"founded": self.rng.randint(800, 1850),
                 "population": self.rng.randint(8, 4000) * 1000 + self.rng.randint(0, 999)}
        aliases = (f"{name} City",) if capital else ()
        return Entity(_slug(name), "city", name, aliases, facts, {"country": country.id})

    def _person(self, birthplace: Entity) -> Entity:
        name = self.names.person()
        first, last = name.split()
        facts: dict[str, int | str] = {"born": self.rng.randint(1750, 1960),
                 "occupation": self.rng.choice(_OCCUPATIONS)}
        return Entity(_slug(name), "person", name, (f"{first[0]}. {last}",), facts,
                      {"birthplace": birthplace.id})

    def _organization(self, headquarters: Entity, founder: Entity) -> Entity:
        name = self.names.organization()
        born = founder.facts["born"]
        assert isinstance(born, int)
        facts: dict[str, int | str] = {"founded": born + self.rng.randint(22, 60)}
        short = name.rsplit(" ", 1)[0]
        return Entity(_slug(name), "organization", name, (short,), facts,
                      {"headquarters": headquarters.id, "founder": founder.id})

    def _work(self, creator: Entity, publisher: Entity) -> Entity:
        name = self.names.work()
        born = creator.facts["born"]
        assert isinstance(born, int)
        facts: dict[str, int | str] = {"year": born + self.rng.randint(20, 60),
                                       "genre": self.rng.choice(_GENRES)}
        return Entity(_slug(name), "work", name, (name.removeprefix("The "),), facts,
                      {"creator": creator.id, "publisher": publisher.id})


def _with_link(entity: Entity, relation: str, target: str) -> Entity:
    return replace(entity, links={**entity.links, relation: target})


def _slug(name: str) -> str:
    return name.replace(" ", "_")


_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p",
           "qu", "r", "s", "st", "t", "th", "tr", "v", "vr", "w", "z", "zh")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "ia", "y")
_CODAS = ("", "", "", "n", "r", "s", "l", "th", "x", "nd", "rk", "m", "sk")

_ORG_SUFFIXES = ("Industries", "University", "Institute", "Press", "Records", "Company",
                 "Foundation", "Works", "Studios", "Society")
_WORK_NOUNS = ("Harbor", "Orchard", "Lantern", "Meridian", "Tide", "Garden", "Archive",
               "Cipher", "Mirror", "Summit", "Voyage", "Ember", "Compass", "Echo", "Atlas")
_WORK_ADJECTIVES = ("Veiled", "Silent", "Crimson", "Hollow", "Distant", "Gilded", "Broken",
                    "Quiet", "Northern", "Final", "Burning", "Glass", "Iron", "Seventh")


class NameGenerator:
    """Draw unique names from a seeded random source.

    Every name returned is new for this generator, so names identify entities.

    Example:
        >>> gen = NameGenerator(random.Random(0))
        >>> a, b = gen.person(), gen.person()
        >>> a != b and len(a.split()) == 2
        True
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def word(self, syllables: int | None = None) -> str:
        """A capitalised pseudo-word of 2-3 syllables."""
        n = syllables or self._rng.choice((2, 2, 3))
        parts = [self._rng.choice(_ONSETS) + self._rng.choice(_VOWELS) for _ in range(n)]
        return ("".join(parts) + self._rng.choice(_CODAS)).capitalize()

    def person(self) -> str:
        return self._unique(lambda: f"{self.word()} {self.word()}")

    def place(self) -> str:
        return self._unique(lambda: self.word(self._rng.choice((2, 3))))

    def organization(self) -> str:
        return self._unique(lambda: f"{self.word()} {self._rng.choice(_ORG_SUFFIXES)}")

    def work(self) -> str:
        def draw() -> str:
            adjective = self._rng.choice(_WORK_ADJECTIVES)
            return f"The {adjective} {self._rng.choice(_WORK_NOUNS)} of {self.word()}"

        return self._unique(draw)

    def _unique(self, draw: Callable[[], str]) -> str:
        for _ in range(1000):
            name = draw()
            if name not in self._used:
                self._used.add(name)
                return name
        raise RuntimeError("name space exhausted; lower the world size")
