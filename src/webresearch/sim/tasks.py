"""Questions about the simulated world: single facts, chains, comparisons and bridge comparisons."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from webresearch.sim.world import ATTRIBUTES, RELATIONS, Entity, World
from webresearch.tasks import SupportingPage, Task
from webresearch.web.snippets import tokenize

__all__ = ["KINDS", "generate_tasks"]

KINDS: dict[str, float] = {
    "single": 0.15, "chain-2": 0.2, "chain-3": 0.2, "chain-4": 0.1,
    "comparison": 0.15, "same-as": 0.08, "bridge-comparison": 0.12,
}
"""Question kinds and their shares of a generated task set."""

_BRIDGES = (
    ("work", "creator", "born", "Which work's creator was born earlier, {} or {}?"),
    ("organization", "founder", "born", "Which organization's founder was born earlier, {} or {}?"),
    ("person", "birthplace", "founded", "Whose birthplace was founded earlier, {} or {}?"),
    ("organization", "headquarters", "founded",
     "Which organization's home city was founded earlier, {} or {}?"),
)
_SAME = (
    ("city", "country", "Are {} and {} in the same country?"),
    ("person", "birthplace", "Were {} and {} born in the same city?"),
    ("work", "publisher", "Were {} and {} published by the same organization?"),
)


def generate_tasks(world: World, *, n: int, seed: int = 0) -> list[Task]:
    """Generate ``n`` distinct, answerable questions about ``world``.

    Every task lists its supporting pages in reading order, each with the facts on
    it that the answer needs, so an agent that reads them can answer.

    Example:
        >>> from webresearch.sim.world import WorldConfig
        >>> tasks = generate_tasks(World.generate(WorldConfig()), n=50)
        >>> len(tasks), min(t.hops for t in tasks), max(t.hops for t in tasks)
        (50, 1, 4)
    """
    rng = random.Random(f"tasks/{world.config.seed}/{seed}")
    makers: dict[str, Callable[[World, random.Random], Task | None]] = {
        "single": lambda w, r: _chain(w, r, 1), "chain-2": lambda w, r: _chain(w, r, 2),
        "chain-3": lambda w, r: _chain(w, r, 3), "chain-4": lambda w, r: _chain(w, r, 4),
        "comparison": _comparison, "same-as": _same_as, "bridge-comparison": _bridge,
    }
    kinds, weights = list(KINDS), list(KINDS.values())
    tasks: dict[str, Task] = {}
    for _ in range(n * 50):
        if len(tasks) == n:
            break
        task = makers[rng.choices(kinds, weights)[0]](world, rng)
        if task is not None and task.question not in tasks:
            tasks[task.question] = task
    return [replace(t, id=f"sim-{world.config.seed}-{seed}-{i:05d}")
            for i, t in enumerate(tasks.values())]


def _chain(world: World, rng: random.Random, hops: int) -> Task | None:
    """Follow ``hops - 1`` relations from a random entity, then ask a fact of the last one."""
    path = [rng.choice(list(world.entities.values()))]
    phrase = _name_phrase(path[0])
    facts: list[str] = []
    keywords: list[str] = []
    for _ in range(hops - 1):
        choices = [r for r in RELATIONS.values() if r.source == path[-1].kind]
        relation = rng.choice(choices)
        nxt = world.follow(path[-1], relation.name)
        if nxt in path:
            return None
        facts.append(nxt.name)
        keywords.append(relation.keyword)
        phrase = relation.phrase.format(phrase)
        path.append(nxt)
    last = path[-1]
    attributes = [a for (kind, _), a in ATTRIBUTES.items() if kind == last.kind]
    relations = [r for r in RELATIONS.values() if r.source == last.kind]
    if rng.random() < 0.6 or not relations:
        attribute = rng.choice(attributes)
        value = last.facts[attribute.name]
        question, answers = attribute.question.format(phrase), _value_answers(value)
        facts.append(answers[0])
        keywords.append(attribute.keyword)
    else:
        relation = rng.choice(relations)
        target = world.follow(last, relation.name)
        verb = "Who is" if target.kind == "person" else "What is"
        question = f"{verb} {relation.phrase.format(phrase)}?"
        answers = (target.name, *target.aliases)
        facts.append(target.name)
        keywords.append(relation.keyword)
    kind = "single" if hops == 1 else "chain"
    return _task(question, answers, kind, path, [(f,) for f in facts], keywords=keywords)


def _comparison(world: World, rng: random.Random) -> Task | None:
    attribute = rng.choice([a for a in ATTRIBUTES.values() if a.comparison])
    a, b = rng.sample(world.of_kind(attribute.kind), 2)
    va, vb = a.facts[attribute.name], b.facts[attribute.name]
    if va == vb:
        return None
    winner = a if va < vb else b  # type: ignore[operator]
    question = attribute.comparison.format(_name_phrase(a), _name_phrase(b))
    return _task(question, (winner.name, *winner.aliases), "comparison", [a, b],
                 [(str(va),), (str(vb),)], keywords=[attribute.keyword] * 2)


def _same_as(world: World, rng: random.Random) -> Task | None:
    kind, relation, template = rng.choice(_SAME)
    a = rng.choice(world.of_kind(kind))
    target = world.follow(a, relation)
    same = [e for e in world.of_kind(kind) if e is not a and e.links[relation] == target.id]
    others = [e for e in world.of_kind(kind) if e is not a and e not in same]
    pool = same if same and rng.random() < 0.5 else others
    b = rng.choice(pool)
    answer = "yes" if b.links[relation] == target.id else "no"
    question = template.format(_name_phrase(a), _name_phrase(b))
    other = world.follow(b, relation)
    return _task(question, (answer,), "comparison", [a, b], [(target.name,), (other.name,)],
                 keywords=[RELATIONS[relation].keyword] * 2)


def _bridge(world: World, rng: random.Random) -> Task | None:
    kind, relation, attribute, template = rng.choice(_BRIDGES)
    a, b = rng.sample(world.of_kind(kind), 2)
    ta, tb = world.follow(a, relation), world.follow(b, relation)
    va, vb = ta.facts[attribute], tb.facts[attribute]
    if ta is tb or va == vb:
        return None
    winner = a if va < vb else b  # type: ignore[operator]
    question = template.format(_name_phrase(a), _name_phrase(b))
    facts = [(ta.name,), (str(va),), (tb.name,), (str(vb),)]
    keywords = [RELATIONS[relation].keyword, ATTRIBUTES[(ta.kind, attribute)].keyword] * 2
    return _task(question, (winner.name, *winner.aliases), "bridge-comparison",
                 [a, ta, b, tb], facts, keywords=keywords)


def _task(question: str, answers: tuple[str, ...], kind: str, pages: Sequence[Entity],
          facts: Sequence[tuple[str, ...]], *, keywords: Sequence[str]) -> Task:
    """The task; each page's query is its name, and its keyword when the question has it."""
    asked = set(tokenize(question))
    supporting = tuple(
        SupportingPage(p.url, p.name, f, f"{p.name} {k}" if k in asked else p.name)
        for p, f, k in zip(pages, facts, keywords, strict=True))
    return Task(id="", question=question[0].upper() + question[1:], answers=answers,
                dataset="sim", kind=kind, hops=len(pages), supporting=supporting)


def _name_phrase(entity: Entity) -> str:
    if entity.kind == "work":
        return f"the {entity.facts['genre']} {entity.name}"
    return entity.name


def _value_answers(value: int | str) -> tuple[str, ...]:
    if isinstance(value, int) and value >= 10_000:
        return (f"{value:,}", str(value))
    return (str(value),)
