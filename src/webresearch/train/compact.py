"""A compact action format for small models: Search-R1's tags, a one-line prompt, URL + snippet.

A model of a few million parameters trained on CPU for minutes pays for every token
it reads and writes. DeepResearcher's format costs about 400 tokens of system prompt
and 40 of JSON per tool call; Search-R1's puts a 200-token instruction in every
question. This format keeps Search-R1's grammar (``<search>query</search>``,
``<answer>...</answer>``, results in ``<information>``) with a one-line system prompt,
the bare question, each result as its URL and snippet (about 120 tokens per hit
with the tiny tokenizer), and scripted actions without a thought, so a one-hop episode
is about 200 tokens. A tag's content and a snippet start with a space, so that a name is
the same tokens wherever it stands (Qwen2's tokenizer gives a word the character before
it: ``>Gagem``, ``\nGagem`` and `` Gagem`` would be three different token strings, and a
small model copies tokens, not letters). DeepResearcher's reward (F1 with the -1 format
penalty) scores it unchanged: it checks the ``<think>``/``<answer>`` tags and scores
the first answer, stripped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from webresearch.envs.formats import SearchR1Format
from webresearch.web.backend import SearchResults

__all__ = ["CompactFormat"]


class CompactFormat(SearchR1Format):
    """Search-R1's grammar with short prompts and results as ``URL`` then snippet.

    Example:
        >>> fmt = CompactFormat()
        >>> fmt.user_prompt("Who founded Pogre Works?")
        'Who founded Pogre Works?'
        >>> fmt.write_call("search", ["Pogre Works"])
        '<search> Pogre Works</search>'
        >>> fmt.parse("<think>x</think><search> Pogre Works</search>")
        ToolCall(tool='search', arguments=('Pogre Works',), note='')
        >>> from webresearch.web.backend import SearchHit
        >>> print(fmt.render_search([SearchResults("q", (SearchHit("T", "https://a.test/T",
        ...                                                          "T is a city."),))]))
        https://a.test/T
         T is a city.
    """

    name: ClassVar[str] = "compact"
    default_reward: ClassVar[str] = "deepresearcher"

    def system_prompt(self, *, date: str, max_turns: int) -> str:
        return (f"Search with <search> query</search> (at most {max_turns} times), "
                "then answer with <answer> answer</answer>.")

    def user_prompt(self, question: str) -> str:
        return question

    def write_call(self, tool: str, arguments: Sequence[str], *, thought: str = "") -> str:
        """A search with no thought: a model of this size has nothing to think with."""
        return f"<search> {arguments[0]}</search>" if tool == "search" else super().write_call(
            tool, arguments, thought=thought)

    def write_answer(self, answer: str, *, thought: str = "") -> str:
        return f"<answer> {answer}</answer>"

    def render_search(self, results: Sequence[SearchResults]) -> str:
        blocks = []
        for result in results:
            if result.error is not None:
                blocks.append(f"Search failed: {result.error}")
            blocks += [f"{hit.url}\n {hit.snippet}" for hit in result.hits]
        return "\n".join(blocks) or "No results."
