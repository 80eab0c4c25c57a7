"""Time per doubling of hostile input, for every function that reads outside text.

    python benchmarks/scaling.py [--max-kib 1024] [--only NAME]

Each case feeds one function a hostile input of 16 KiB, then doubles it up to
``--max-kib`` (1 MiB by default), and times it (the fastest of repeated calls, each size
run for at least 20 ms). A linear function takes about twice as long for twice the input:
its ratio per doubling stays near 2; a quadratic one's nears 4. Per case it prints the
seconds at each size, the ratio per doubling over the whole range (the geometric mean:
``(t_max / t_min) ** (1 / doublings)``) and the worst single doubling.

The last line is one JSON object: per function, the worst case's ``ratio`` and
``worst_step``; and ``max_ratio`` over every function, which should stay <= 2.5.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from webresearch.errors import WebResearchError

Case = tuple[str, str, Callable[[int], Any], Callable[[Any], object]]
"""(function, input name, make the input of about n characters, call the function on it)."""


def _repeat(piece: str, n: int) -> str:
    return piece * max(1, n // len(piece))


def _cases() -> list[Case]:
    from webresearch.crawlers.charset import decode
    from webresearch.crawlers.content import convert
    from webresearch.crawlers.extract import html_to_text
    from webresearch.crawlers.search.client import clean
    from webresearch.crawlers.search.engines import BraveSearch, SearXNG, SerperSearch
    from webresearch.envs.formats import get_format
    from webresearch.envs.rewards import f1_score, normalize_answer, squad_normalize
    from webresearch.envs.tools import split_segments
    from webresearch.evaluation.judge import parse_judgement
    from webresearch.net.secrets import redact, register_secret
    from webresearch.net.urls import normalize_url
    from webresearch.policies.heuristic import best_span
    from webresearch.untrusted import loads_json, scalar_text
    from webresearch.web.reader import parse_extract
    from webresearch.web.snippets import snippet

    dr, sr = get_format("deepresearcher"), get_format("search-r1")
    register_secret("sk-scaling-benchmark-0123456789")
    hits = {"serper": SerperSearch._hits, "searxng": SearXNG._hits, "brave": BraveSearch._hits}

    def engine(name: str) -> Callable[[str], object]:
        parse = hits[name]
        return lambda body: _ignore_errors(lambda: parse(None, loads_json(body)))  # type: ignore[arg-type]

    cases: list[Case] = [
        ("deepresearcher.parse", "<tool_call> opened", lambda n: _repeat("<tool_call>", n),
         dr.parse),
        ("deepresearcher.parse", "<think></think> pairs", lambda n: _repeat("<think></think>", n),
         dr.parse),
        ("deepresearcher.parse", "balanced <tool_call> soup",
         lambda n: _repeat("<tool_call>", n // 2) + _repeat("</tool_call>", n // 2), dr.parse),
        ("deepresearcher.parse", "{ in a tool call",
         lambda n: "<tool_call>" + _repeat("{", n) + "</tool_call>", dr.parse),
        ("deepresearcher.parse", "[ in a tool call",
         lambda n: '<tool_call>{"name": "web_search", "arguments": {"query": '
         + _repeat("[", n) + "}}</tool_call>", dr.parse),
        ("deepresearcher.parse", "İ (lowers to two)", lambda n: _repeat("İ<answer>", n),
         dr.parse),
        ("search-r1.parse", "<search> opened", lambda n: _repeat("<search>", n), sr.parse),
        ("search-r1.parse", "<search><answer> opened",
         lambda n: _repeat("<search>", n // 2) + _repeat("<answer>", n // 2) + "</answer",
         sr.parse),
        ("loads_json", "[ nested", lambda n: _repeat("[", n), _ignore(loads_json)),
        ("loads_json", "wide lists", lambda n: "[" + _repeat("[],", n) + "[]]", loads_json),
        ("loads_json", "comb of depth 62",
         lambda n: "[" + _repeat("[" * 61 + "]" * 61 + ",", n) + "[]]", loads_json),
        ("loads_json", "escaped quotes and brackets",
         lambda n: '{"' + _repeat('\\"[', n) + '": 1}', loads_json),
        ("loads_json", "surrogate escapes",
         lambda n: "[" + _repeat('"\\ud800",', n) + "1]", loads_json),
        ("scalar_text", "surrogates and NUL", lambda n: _repeat("a\ud800\x00é", n), scalar_text),
        ("search title/snippet clean", "< runs", lambda n: _repeat("<", n), clean),
        ("search title/snippet clean", "<a runs", lambda n: _repeat("<a", n), clean),
        ("search title/snippet clean", "<> tags", lambda n: _repeat("<b>x</b> ", n), clean),
        ("serper response", "nested [", lambda n: '{"organic": ' + _repeat("[", n) + "}",
         engine("serper")),
        ("serper response", "many results",
         lambda n: '{"organic": [' + _repeat('{"title": "<b>t", "link": "u", "snippet": "s"},', n)
         + '{"link": "u"}]}', engine("serper")),
        ("searxng response", "nested {", lambda n: _repeat('{"results":', n), engine("searxng")),
        ("brave response", "< title",
         lambda n: '{"web": {"results": [{"title": "' + _repeat("<", n) + '", "url": "u"}]}}',
         engine("brave")),
        ("charset.decode", "meta soup", lambda n: _repeat("<meta charset=", n).encode(), decode),
        ("charset.decode", "invalid UTF-8", lambda n: _repeat("\xff\xfe", n).encode("latin-1"),
         decode),
        ("html_to_text", "nested <div>", lambda n: _repeat("<div>", n), html_to_text),
        ("html_to_text", "< runs", lambda n: "<p>" + _repeat("<", n), html_to_text),
        ("html_to_text", "many links",
         lambda n: _repeat('<a href="/x">y</a>', n), lambda s: html_to_text(s, base_url="http://a.test/")),
        ("html_to_text", "nested <table>", lambda n: _repeat("<table><tr><td>", n), html_to_text),
        ("content.convert", "plain text with NUL",
         lambda n: b"ok " * 1000 + _repeat("a\x00", n).encode(),
         lambda b: convert(b, "text/plain")),
        ("snippet", "one long sentence", lambda n: _repeat("word ", n),
         lambda t: snippet(t, "word other")),
        ("snippet", "many sentences", lambda n: _repeat("A b. ", n), lambda t: snippet(t, "a b")),
        ("split_segments", "no spaces", lambda n: _repeat("x", n),
         lambda t: split_segments(t, 500)),
        ("split_segments", "newlines", lambda n: _repeat("\n", n),
         lambda t: split_segments(t, 500)),
        ("f1_score", "many words", lambda n: _repeat("the a an x ", n),
         lambda t: f1_score(t, ["x y"])),
        ("normalize_answer", "punctuation", lambda n: _repeat("!a ", n), normalize_answer),
        ("squad_normalize", "articles", lambda n: _repeat("a an the ", n), squad_normalize),
        ("best_span", "capitalised words", lambda n: _repeat("Ab Cd of ", n),
         lambda t: best_span("who?", t)),
        ("best_span", "digits and commas", lambda n: "1" + _repeat(",1", n) + "a",
         lambda t: best_span("when?", t)),
        ("best_span", "digits without boundary", lambda n: _repeat("1", n) + "a",
         lambda t: best_span("when?", t)),
        ("reader.parse_extract", "{ runs", lambda n: _repeat("{", n), parse_extract),
        ("judge.parse_judgement", "{ runs", lambda n: _repeat("{", n), _ignore(parse_judgement)),
        ("redact", "near-miss key", lambda n: _repeat("sk-scaling-benchmark-01234", n), redact),
        ("redact", "plain text", lambda n: _repeat("nothing secret here ", n), redact),
        ("normalize_url", "long path", lambda n: "https://a.test/" + _repeat("%2e/", n),
         _ignore(normalize_url)),
        ("env.step (deepresearcher)", "tag soup", lambda n: _repeat("<tool_call><think>", n),
         _stepper("deepresearcher")),
        ("env.step (search-r1)", "<search> opened", lambda n: _repeat("<search>", n),
         _stepper("search-r1")),
    ]
    return cases


def _ignore(function: Callable[[Any], object]) -> Callable[[Any], object]:
    return lambda value: _ignore_errors(lambda: function(value))


def _ignore_errors(call: Callable[[], object]) -> object:
    try:
        return call()
    except (ValueError, KeyError, TypeError, AttributeError, WebResearchError):
        return None


def _stepper(action_format: str) -> Callable[[str], object]:
    from webresearch.envs.web_research import WebResearchEnv

    env = WebResearchEnv(action_format=action_format, max_action_chars=1 << 22,
                         on_format_error="feedback", max_turns=1000)
    env.reset(seed=0)

    def step(action: str) -> object:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
        return None

    return step


def time_call(call: Callable[[], object], *, floor_s: float = 0.02) -> float:
    """The fastest of repeated calls, repeating until ``floor_s`` has passed (3 at least)."""
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or spent < floor_s:
        start = time.perf_counter()
        call()
        took = time.perf_counter() - start
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best


def measure(case: Case, sizes: list[int]) -> dict[str, Any]:
    _, _, make, function = case
    seconds = []
    for n in sizes:
        value = make(n)
        seconds.append(time_call(lambda value=value: function(value)))
    steps = [b / a if a > 0 else 1.0 for a, b in itertools.pairwise(seconds)]
    ratio = (seconds[-1] / seconds[0]) ** (1 / (len(sizes) - 1)) if seconds[0] > 0 else 1.0
    return {"seconds": [round(s, 6) for s in seconds], "ratio": round(ratio, 2),
            "worst_step": round(max(steps), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-kib", type=int, default=1024)
    parser.add_argument("--only", default="", help="run only functions whose name has this")
    args = parser.parse_args()
    sizes, n = [], 16 * 1024
    while n <= args.max_kib * 1024:
        sizes.append(n)
        n *= 2
    worst: dict[str, dict[str, Any]] = {}
    for case in _cases():
        name, what = case[0], case[1]
        if args.only not in name:
            continue
        result = measure(case, sizes)
        print(f"{name:28} {what:30} ratio {result['ratio']:5.2f} worst {result['worst_step']:5.2f} "
              f"{result['seconds'][-1] * 1000:9.1f} ms at {sizes[-1] // 1024} KiB", flush=True)
        if name not in worst or result["ratio"] > worst[name]["ratio"]:
            worst[name] = {"input": what, **result}
    summary = {"sizes_kib": [s // 1024 for s in sizes],
               "functions": {k: {"input": v["input"], "ratio": v["ratio"],
                                 "worst_step": v["worst_step"],
                                 "seconds_at_max": v["seconds"][-1]} for k, v in worst.items()},
               "max_ratio": max((v["ratio"] for v in worst.values()), default=0.0)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
