"""Hostile actions for testing an action format: random text and grammar-made tool calls.

A format must turn every one into an action or an invalid-action message, never raise.
The grammar covers JSON of every shape (deep nesting, huge and odd numbers, wrong types,
lone surrogates), tag soups in any case, and URLs of every spelling.
"""

from __future__ import annotations

import json
import random

__all__ = ["hostile_action"]

_TAGS = ("<think>", "</think>", "<tool_call>", "</tool_call>", "<answer>", "</answer>",
         "<search>", "</search>", "<THINK>", "</Answer>", "<TOOL_CALL>", "<information>")
_PUNCT = ("{", "}", "[", "]", '"', ":", ",", "\\", "\\u0000", "\\ud800", " ", "\n", "\x00")
_URLS = ("http://[::1", "http://[::1]:99999/", "https://simpedia.test/wiki/%%",
         "http://a:b@c:d@e/", "//x", "http:///", "javascript:alert(1)", "file:///etc/passwd",
         "http://\u3002\uff11\uff12\uff17/", "http://0x7f.1/", "http://x.test:-1/",
         "http://[v1.x]/", "https://simpedia.test/wiki/Pogre_Works", "http://\udcff.test/",
         "http://" + "a" * 300 + ".test/", "https://simpedia.test/wiki/" + "x" * 5000, "")
_NUMBERS = ("1" * 5000, "-" + "9" * 4400, "1e999", "-1e999", "NaN", "Infinity", "-0",
            "0x10", "1_000", "\u0661\u0662", "1e-99999", "0.0000000000000000000001")
_NAMES = ("web_search", "browse_webpage", "WEB_SEARCH", "web_serch", "", "search", "browse")
_FIELDS = ("query", "url_list", "url", "queries", "q", "")


def hostile_action(rng: random.Random) -> str:
    """One hostile action text (a tool call, a tag soup, a number, random characters).

    Example:
        >>> rng = random.Random(0)
        >>> all(isinstance(hostile_action(rng), str) for _ in range(100))
        True
    """
    kind = rng.randrange(8)
    if kind <= 2:
        return _tool_call(rng)
    if kind == 3:
        return "".join(rng.choice(_TAGS + _PUNCT) for _ in range(rng.randrange(1, 40)))
    if kind == 4:
        return f"<search>{rng.choice(_NUMBERS + _URLS)}</search>"
    if kind == 5:
        return f"<think>x</think><answer>{_text(rng, 60)}</answer>"
    if kind == 6:
        return rng.choice(["[" * 100_000, "{" * 5000, "<" * 1000, "<tool_call>" * 3, "",
                           "\ud800", "\x00" * 10])
    return _text(rng, 300)


def _text(rng: random.Random, size: int) -> str:
    top = rng.choice((0x7F, 0x2FFF, 0xFFFF, 0x10FFFF))
    return "".join(chr(rng.randrange(0, top)) for _ in range(rng.randrange(size)))


def _tool_call(rng: random.Random) -> str:
    arguments = rng.choice([
        {rng.choice(_FIELDS): _value(rng, 3) for _ in range(rng.randrange(3))},
        {rng.choice(_FIELDS): [rng.choice(_URLS) for _ in range(rng.randrange(5))]},
        _value(rng, 3)])
    if rng.random() < 0.3:
        arguments = json.dumps(arguments)
    name = rng.choice(_NAMES) if rng.random() < 0.8 else _value(rng, 2)
    if rng.random() < 0.2:  # raw text where JSON should be: odd numbers and broken syntax
        body = rng.choice(['{"name": ' + rng.choice(_NUMBERS) + "}", "{", "[" * 300, "null",
                           '{"name": "web_search", "arguments": {"query": ' +
                           rng.choice(_NUMBERS) + "}}"])
    else:
        body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=rng.random() < 0.5)
    return f"<think>t</think><tool_call>{body}</tool_call>"


def _value(rng: random.Random, depth: int) -> object:
    kind = rng.randrange(9 if depth > 0 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 2**64, 10**50, rng.randrange(-1000, 1000)])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, float("inf"), float("nan")])
    if kind == 4:
        return rng.choice(_URLS)
    if kind == 5:
        return _text(rng, 20)
    if kind == 6:
        return [_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return {_text(rng, 5): _value(rng, depth - 1) for _ in range(rng.randrange(4))}
    return [[[[[_value(rng, 0)]]]]]
