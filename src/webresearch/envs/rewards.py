"""Answer rewards: DeepResearcher's F1 with a format penalty, F1, exact match, Search-R1's EM.

A reward scores a :class:`Submission`: the final answer as the action format parsed it
(``None`` when the episode ended without one) and the agent's text of every turn. The
action format owns the grammar; a reward never re-parses the text for the answer.
:func:`score_response` scores one response text the way an env would, without an env.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from webresearch.envs.formats import Answer, get_format
from webresearch.errors import unknown_name_error

__all__ = [
    "REWARDS",
    "RewardFn",
    "Submission",
    "deepresearcher_reward",
    "em_reward",
    "exact_match",
    "f1_reward",
    "f1_score",
    "get_reward",
    "normalize_answer",
    "score_response",
    "search_r1_reward",
    "squad_exact_match",
    "squad_normalize",
]


@dataclass(frozen=True, slots=True)
class Submission:
    """What a reward scores.

    Attributes:
        answer: The final answer as the action format parsed it; ``None`` when the
            episode ended without one (a format error, the tool-call budget used up).
        responses: The agent's text of every turn, for rewards of the process (tool use,
            length); the answer is never to be re-parsed from it.
    """

    answer: str | None
    responses: tuple[str, ...] = ()


RewardFn = Callable[[Submission, Sequence[str]], float]
"""A reward: ``(submission, gold aliases) -> float``."""

_PUNCT_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))
_PUNCT_DELETE = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """DeepResearcher's normalisation: lower-case, ASCII punctuation to spaces, collapse spaces.

    Example:
        >>> normalize_answer("  The U.S.-born   Painter! ")
        'the u s born painter'
    """
    return " ".join(text.lower().translate(_PUNCT_TO_SPACE).split())


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Word-level F1 over token sets, the maximum over the gold aliases.

    Example:
        >>> f1_score("Paris, France", ["Paris"])
        0.6666666666666666
        >>> f1_score("the the cat", ["cat the"])  # sets: duplicates do not count
        1.0
    """
    predicted = set(normalize_answer(prediction).split())
    best = 0.0
    for gold in golds:
        expected = set(normalize_answer(gold).split())
        common = len(predicted & expected)
        if common:
            precision, recall = common / len(predicted), common / len(expected)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold alias, else 0.0.

    Example:
        >>> exact_match("Paris.", ["paris", "Paname"])
        1.0
    """
    predicted = normalize_answer(prediction)
    return float(any(predicted == normalize_answer(g) for g in golds))


def squad_normalize(text: str) -> str:
    """SQuAD's normalisation (Search-R1): lower-case, drop punctuation and articles.

    Example:
        >>> squad_normalize("The U.S. Army")
        'us army'
    """
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT_DELETE))
    return " ".join(text.split())


def squad_exact_match(prediction: str, golds: Sequence[str]) -> float:
    """Exact match under :func:`squad_normalize`.

    Example:
        >>> squad_exact_match("the Beatles", ["Beatles"])
        1.0
    """
    predicted = squad_normalize(prediction)
    return float(any(predicted == squad_normalize(g) for g in golds))


def deepresearcher_reward(submission: Submission, golds: Sequence[str]) -> float:
    """DeepResearcher's reward: -1 without a well-formed answer, else the answer's F1.

    Example:
        >>> deepresearcher_reward(Submission("Paris"), ["Paris"])
        1.0
        >>> deepresearcher_reward(Submission(None), ["Paris"])
        -1.0
    """
    if submission.answer is None:
        return -1.0
    return f1_score(submission.answer, golds)


def f1_reward(submission: Submission, golds: Sequence[str]) -> float:
    """The answer's F1, 0 without an answer.

    Example:
        >>> f1_reward(Submission("a b"), ["a"]), f1_reward(Submission(None), ["a"])
        (0.6666666666666666, 0.0)
    """
    return 0.0 if submission.answer is None else f1_score(submission.answer, golds)


def em_reward(submission: Submission, golds: Sequence[str]) -> float:
    """The answer's exact match (DeepResearcher's normalisation), 0 without an answer.

    Example:
        >>> em_reward(Submission("Paris."), ["paris"])
        1.0
    """
    return 0.0 if submission.answer is None else exact_match(submission.answer, golds)


def search_r1_reward(submission: Submission, golds: Sequence[str]) -> float:
    """Search-R1's outcome reward: SQuAD exact match of the answer (0 without one).

    Example:
        >>> search_r1_reward(Submission("the Beatles"), ["Beatles"])
        1.0
    """
    return 0.0 if submission.answer is None else squad_exact_match(submission.answer, golds)


REWARDS: dict[str, RewardFn] = {
    "deepresearcher": deepresearcher_reward,
    "f1": f1_reward,
    "em": em_reward,
    "search-r1": search_r1_reward,
}
"""Rewards by name: the env's ``reward`` option takes one of these or a callable."""


def get_reward(reward: str | RewardFn) -> RewardFn:
    """Resolve a reward name (or pass a callable through).

    Example:
        >>> get_reward("f1")(Submission("a b"), ["a"])
        0.6666666666666666
    """
    if callable(reward):
        return reward
    if reward not in REWARDS:
        raise unknown_name_error("reward", reward, REWARDS)
    return REWARDS[reward]


def score_response(response: str, golds: Sequence[str], *, reward: str | RewardFn | None = None,
                   action_format: str = "deepresearcher") -> float:
    """Score one final response as an env would: the format parses it, the reward scores it.

    The reward defaults to the format's own (DeepResearcher's F1 with a -1 penalty).
    A response that is a tool call, or that breaks the format, has no answer.

    Example:
        >>> score_response("<think>t</think><answer>Paris</answer>", ["Paris"])
        1.0
        >>> score_response("<think>t<answer>Paris</answer>", ["Paris"])
        -1.0
        >>> score_response("<search>q</search>", ["Paris"], action_format="search-r1")
        0.0
    """
    fmt = get_format(action_format)
    parsed = fmt.parse(response)
    answer = parsed.text if isinstance(parsed, Answer) else None
    return get_reward(reward or fmt.default_reward)(Submission(answer, (response,)), golds)
