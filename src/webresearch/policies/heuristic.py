"""A heuristic searcher: search the question, read the top hit, answer with the best span.

A model-free baseline between the no-tool floor and the oracle ceiling: it uses the
tools as a naive agent would, so its score says how far plain retrieval gets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from webresearch.envs.formats import ActionFormat, get_format
from webresearch.policies.policy import ChatMessage
from webresearch.policies.scripted import ScriptedPolicy
from webresearch.sim.search import tokenize

__all__ = ["HeuristicPolicy", "best_span", "question_of"]

_URL = re.compile(r"URL: (\S+)")
_SENTENCE = re.compile(r"(?<=[a-z0-9)\]][.!?])\s+|\n+")
_SPANS = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b|(?:\b[A-Z][\w'-]+(?:\s+(?:of\s+)?[A-Z][\w'-]+)*)")
_YEAR = re.compile(r"^(1\d{3}|20\d{2})$")


def best_span(question: str, text: str) -> str:
    """The span of ``text`` most likely to answer ``question``, or "" when nothing fits.

    Sentences are ranked by the question words they share; within the best ones, a
    year answers "when"/"what year", a number "how many"/"population", a name the rest;
    spans already in the question are skipped.

    Example:
        >>> best_span("In what year was Pogre Works founded?",
        ...           "Pogre Works is an organization founded in 1887 by Kraemukreisk Jepudou.")
        '1887'
        >>> best_span("Who founded Pogre Works?",
        ...           "Pogre Works is an organization founded in 1887 by Kraemukreisk Jepudou.")
        'Kraemukreisk Jepudou'
    """
    terms, asked = set(tokenize(question)), question.lower()
    sentences = [s for s in _SENTENCE.split(text) if s.strip() and not s.startswith("#")]
    ranked = sorted(sentences, key=lambda s: -len(terms & set(tokenize(s))))
    want_year = "year" in asked or asked.startswith("when")
    want_number = any(w in asked for w in ("how many", "population", "how much"))
    for sentence in ranked[:3]:
        spans = [m.group(0) for m in _SPANS.finditer(sentence)]
        spans = [s for s in spans if s.lower() not in asked and s not in ("The", "A", "It")]
        if want_year:
            spans = [s for s in spans if _YEAR.match(s)]
        elif want_number:
            spans = [s for s in spans if s[0].isdigit()]
        else:
            spans = [s for s in spans if not s[0].isdigit()]
        if spans:
            return spans[0]
    return ""


def question_of(prompt: str) -> str:
    """The question in a format's first user message (Search-R1's wraps it in instructions).

    Example:
        >>> question_of("Answer the question. Question: Who founded X? ")
        'Who founded X?'
    """
    return prompt.rsplit("Question: ", 1)[-1].strip()


class HeuristicPolicy(ScriptedPolicy):
    """Search the question, browse the top hit (where the format can), answer the best span.

    Example:
        >>> action = HeuristicPolicy().act([{"role": "user", "content": "Who founded X?"}])
        >>> print(action.splitlines()[-1])
        <tool_call>{"name": "web_search", "arguments": {"query": ["Who founded X?"]}}</tool_call>
    """

    name = "heuristic"

    def __init__(self, fmt: str | ActionFormat = "deepresearcher") -> None:
        self.format = get_format(fmt)

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        users = [m["content"] for m in conversation if m["role"] == "user"]
        question = question_of(users[0])
        fmt = self.format
        if len(users) == 1:
            return fmt.write_call("search", [question], thought="I will search the question.")
        if len(users) == 2 and "browse" in fmt.tools:
            url = _URL.search(users[1])
            if url is not None:
                return fmt.write_call("browse", [url.group(1)], thought="I will read the top hit.")
        answer = best_span(question, users[-1]) or "unknown"
        return fmt.write_answer(answer, thought="The best-matching passage says so.")
