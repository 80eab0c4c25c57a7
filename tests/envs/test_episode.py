"""An episode's state changes through its methods only, and each method is one transition."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from webresearch.envs.episode import EpisodeState, StepTiming
from webresearch.tasks import Task
from webresearch.web.backend import Page, SearchHit, SearchResults

SRC = Path(__file__).resolve().parents[2] / "src" / "webresearch"
FIELDS = {f.name for f in dataclasses.fields(EpisodeState)}
MUTATORS = {"append", "extend", "add", "update", "clear", "pop", "remove", "discard",
            "setdefault", "insert", "sort", "reverse"}
OTHER_STATES = {"integrations/verifiers.py"}
"""Modules whose ``state`` is another framework's (verifiers' ``State``), not an episode's."""


def _is_state(node: ast.expr) -> bool:
    """``state``, ``self._state``, ``env.state``: an expression that names an episode state."""
    if isinstance(node, ast.Name):
        return node.id in ("state", "_state")
    return isinstance(node, ast.Attribute) and node.attr in ("state", "_state")


def _field_of_state(node: ast.expr) -> str | None:
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute) and node.attr in FIELDS and _is_state(node.value):
        return node.attr
    return None


def _writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                targets.extend(target.elts if isinstance(target, ast.Tuple) else [target])
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets.append(node.target)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in MUTATORS):
            targets.append(node.func.value)
        found += [(node.lineno, f) for t in targets if (f := _field_of_state(t)) is not None]
    return found


def test_only_the_episode_module_writes_an_episode_state() -> None:
    writes = []
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(SRC).as_posix()
        if where in ("envs/episode.py", *OTHER_STATES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        writes += [f"{where}:{line}: state.{name}" for line, name in _writes(tree)]
    assert writes == []


def test_the_scan_finds_writes() -> None:
    code = ("state.turns += 1\nself._state.errors.append('x')\nenv.state.segments[u] = 1\n"
            "a, state.done = 1, True\nstate.next_segment.get(u)\nother.turns = 2\n")
    assert sorted(_writes(ast.parse(code))) == [
        (1, "turns"), (2, "errors"), (3, "segments"), (4, "done")]


def state() -> EpisodeState:
    return EpisodeState(task=Task(id="t", question="Q?", answers=("a",)))


def test_a_search_replaces_the_latest_results_and_adds_to_the_episode_s() -> None:
    s = state()
    first = SearchResults("q1", (SearchHit("T", "HTTP://A.test/x", "s"),), from_cache=True)
    failed = SearchResults("q2", (), error="HTTP 500")
    s.searched(["q1", "q2"], [first, failed])
    assert s.latest_results == {"HTTP://A.test/x", "http://a.test/x"}
    assert s.url_queries == {"HTTP://A.test/x": "q1"} and s.queries == ["q1", "q2"]
    assert s.errors == ["search 'q2': HTTP 500"] and (s.cache_hits, s.cache_misses) == (1, 1)
    s.searched(["q3"], [SearchResults("q3", (SearchHit("U", "https://b.test/", "s"),))])
    assert s.latest_results == {"https://b.test/"}
    assert s.result_urls == {"HTTP://A.test/x", "http://a.test/x", "https://b.test/"}


def test_turns_visits_segments_and_the_end() -> None:
    s = state()
    s.begin_step()
    s.act("call")
    s.spend_turn(tool_call=True)
    s.spend_turn(tool_call=False)
    s.observe("result")
    page = Page("https://a.test/", "https://a.test/", 200, "A", "text")
    s.fetched("https://a.test/", page, ["text"])
    s.visit("https://a.test/")
    s.visit("https://a.test/")
    s.shown("https://a.test/", 0)
    s.time_step(StepTiming(0.1, 0.2, 0.3))
    s.end()
    assert (s.turns, s.tool_calls, s.responses) == (2, 1, ["call"])
    assert s.transcript == [("assistant", "call"), ("user", "result")]
    assert s.urls_visited == ["https://a.test/"] and s.next_segment == {"https://a.test/": 1}
    assert s.segments == {"https://a.test/": (page, ["text"])} and s.cache_misses == 1
    assert s.done and len(s.timings) == 1
