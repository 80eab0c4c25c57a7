"""The env's options have one declaration (EnvConfig): every way of making an env takes
exactly its fields, by name and type, and says which name was meant."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from typing import Any

import gymnasium as gym
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from webresearch.envs import EnvConfig, WebResearchEnv
from webresearch.envs.formats import get_format
from webresearch.errors import ConfigError, ConfigTypeError
from webresearch.web import MockWeb
from webresearch.web.reader import KeywordReader

FIELDS = [f.name for f in dataclasses.fields(EnvConfig)]
ONE_TASK = [{"question": "Q?", "answers": ["A"]}]


def _reward(submission: object, golds: object) -> float:
    return 0.5


NON_DEFAULT: dict[str, Any] = {
    "tasks": ONE_TASK, "web": "sim:seed=3", "action_format": "search-r1", "reward": _reward,
    "max_turns": 3, "on_format_error": "feedback", "top_k": 4, "max_queries": 2, "max_urls": 2,
    "segment_chars": 500, "max_observation_chars": 4000, "max_action_chars": 5000,
    "date": "2026-01-01", "seed": 7, "reader": KeywordReader(), "browse_scope": "searched",
    "reader_segment_chars": 900, "reader_max_segments": 2, "reader_max_tokens": 100,
    "tools_in_prompt": False, "blocked_domains": ("benchmarks", "example.org/qa"),
}
"""A valid value other than the default for every option (a new option must be added)."""


def test_every_option_has_a_non_default_value_here() -> None:
    assert sorted(NON_DEFAULT) == sorted(FIELDS)
    defaults = EnvConfig()
    assert all(getattr(defaults, name) != value for name, value in NON_DEFAULT.items())


def test_the_env_declares_no_option_of_its_own() -> None:
    """Its keywords are EnvConfig's: no second list of names and defaults to drift."""
    parameters = inspect.signature(WebResearchEnv.__init__).parameters
    assert list(parameters) == ["self", "config", "render_mode", "options"]
    assert parameters["options"].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.parametrize("name", FIELDS)
def test_every_option_reaches_the_env_by_every_route(name: str) -> None:
    value = NON_DEFAULT[name]
    base = {} if name in ("tasks", "web") else {"tasks": ONE_TASK}  # quick to load
    made = [WebResearchEnv(**base, **{name: value}),
            WebResearchEnv(EnvConfig(**base, **{name: value})),
            WebResearchEnv(EnvConfig(**base), **{name: value}),
            gym.make("WebResearch-v0", **base, **{name: value}).unwrapped]
    for env in made:
        assert getattr(env.config, name) == value, env
        assert env.config == EnvConfig(**base, **{name: value})
        env.close()


def test_the_env_uses_the_config_it_was_given() -> None:
    config = EnvConfig(tasks=ONE_TASK, action_format="search-r1", max_turns=3,
                       max_observation_chars=300, date="2026-01-01")
    env = WebResearchEnv(config, max_turns=5)
    assert env.config == dataclasses.replace(config, max_turns=5)
    assert env.system_prompt == get_format("search-r1").system_prompt(date="2026-01-01",
                                                                      max_turns=5)
    assert env.observation_space.max_length == 300 and env.tasks[0].question == "Q?"
    assert WebResearchEnv(config).config is config
    with pytest.raises(ConfigTypeError, match=re.escape(
            "Expects config of type EnvConfig or None, actual: {'max_turns': 3} (dict)")):
        WebResearchEnv({"max_turns": 3})  # type: ignore[arg-type]


# misspelled names ---------------------------------------------------------------------

@st.composite
def misspellings(draw: st.DrawFn) -> tuple[str, str]:
    """An option's name and a typo of it (a letter dropped, doubled, swapped or changed)."""
    name = draw(st.sampled_from(FIELDS))
    i = draw(st.integers(0, len(name) - 2))
    typo = draw(st.sampled_from([
        name[:i] + name[i + 1:], name[:i] + name[i] + name[i:],
        name[:i] + name[i + 1] + name[i] + name[i + 2:],
        name[:i] + draw(st.sampled_from("aeiouxz_")) + name[i + 1:], name.upper()]))
    assume(typo not in FIELDS and typo not in ("config", "render_mode"))
    return name, typo


def _check_suggestion(message: str, meant: str, typo: str) -> None:
    assert message.startswith(f"Expects an option of EnvConfig, actual: {typo!r}"), message
    suggested = re.search(r"Did you mean '(\w+)'\?", message)
    if suggested is None:  # nothing was close enough: then the meant name was not either
        assert not difflib.get_close_matches(typo, [meant], cutoff=0.6), message
        return
    ratio = difflib.SequenceMatcher(None, typo, meant).ratio()
    best = difflib.SequenceMatcher(None, typo, suggested.group(1)).ratio()
    assert best >= ratio, message  # the name meant, or one at least as close


@settings(max_examples=200, deadline=None)
@given(pair=misspellings())
def test_a_misspelled_option_is_a_type_error_with_a_did_you_mean(pair: tuple[str, str]) -> None:
    meant, typo = pair
    for make in (EnvConfig, WebResearchEnv, lambda **o: gym.make("WebResearch-v0", **o)):
        with pytest.raises(ConfigTypeError) as caught:
            make(**{typo: NON_DEFAULT[meant]})
        assert isinstance(caught.value, TypeError)
        _check_suggestion(str(caught.value), meant, typo)
    with pytest.raises(ConfigTypeError, match=re.escape(f"actual: {typo!r}")):
        dataclasses.replace(EnvConfig(), **{typo: NON_DEFAULT[meant]})


def test_the_env_s_own_keywords_are_suggested_too() -> None:
    with pytest.raises(ConfigTypeError, match=re.escape("Did you mean 'render_mode'?")):
        WebResearchEnv(render_mod="ansi")


# wrong types ----------------------------------------------------------------------------

COUNTS = {"max_turns", "top_k", "max_queries", "max_urls", "segment_chars",
          "max_observation_chars", "max_action_chars", "reader_segment_chars",
          "reader_max_segments", "reader_max_tokens"}


def _right_type(name: str, value: object) -> bool:
    """The types the documentation gives each option (an independent statement of them)."""
    is_int = type(value) is int
    if name in COUNTS:
        return is_int
    return {
        "seed": is_int or value is None, "date": isinstance(value, str) or value is None,
        "tools_in_prompt": type(value) is bool, "reader": value is None,
        "reward": isinstance(value, str) or value is None,
        "tasks": isinstance(value, str | list | tuple),
        "blocked_domains": value is None or (isinstance(value, list | tuple)
                                             and all(isinstance(v, str) for v in value)),
    }.get(name, isinstance(value, str))  # web, action_format, on_format_error, browse_scope


VALUES = st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=False), st.booleans(),
                   st.none(), st.text(max_size=4), st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
                   st.integers(1, 99).map(str))


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(FIELDS), value=VALUES)
def test_a_value_of_the_wrong_type_is_a_type_error_naming_field_and_type(name: str,
                                                                         value: object) -> None:
    if _right_type(name, value):
        try:
            EnvConfig(**{name: value})
        except ConfigError as exc:  # a value out of range is not a type error
            assert not isinstance(exc, TypeError), exc
        return
    for make in (EnvConfig, WebResearchEnv):
        with pytest.raises(ConfigTypeError, match=rf"^Expects {name} of type \S.* actual: .* "
                                                  rf"\({type(value).__name__}\)$"):
            make(**{name: value})


@pytest.mark.parametrize(("options", "message"), [
    ({"max_turns": "5"}, "Expects max_turns of type int, actual: '5' (str)"),
    ({"max_turns": True}, "Expects max_turns of type int, actual: True (bool)"),
    ({"tools_in_prompt": 1}, "Expects tools_in_prompt of type bool, actual: 1 (int)"),
    ({"web": 3}, "Expects web of type str | WebBackend, actual: 3 (int)"),
    ({"tasks": 3}, "Expects tasks of type str | Path | Sequence[Mapping[str, Any] | Task], "
                   "actual: 3 (int)"),
    ({"reader": "keyword"}, "Expects reader of type Reader | ReaderSource | None, "
                            "actual: 'keyword' (str)"),
], ids=["digits", "bool-count", "int-flag", "web", "tasks", "reader"])
def test_type_errors_read_as_such(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigTypeError, match=re.escape(message)):
        gym.make("WebResearch-v0", **options)


def test_range_errors_stay_range_errors() -> None:
    with pytest.raises(ConfigError, match=re.escape("Expects max_turns >= 1, actual: 0")) as caught:
        WebResearchEnv(max_turns=0)
    assert not isinstance(caught.value, TypeError)
    assert WebResearchEnv(web=MockWeb(), tasks=ONE_TASK).config.web is not None
