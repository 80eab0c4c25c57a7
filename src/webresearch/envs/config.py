"""The options of ``WebResearch-v0``, as one dataclass with a docstring per field.

:class:`EnvConfig` is their one declaration: ``WebResearchEnv(**options)`` and
``gym.make("WebResearch-v0", **options)`` build one from their keywords, which are
checked by name (an unknown one gets a did-you-mean) and by type against its fields.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import re
import reprlib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from webresearch.envs.blocklist import check_entries
from webresearch.envs.formats import ActionFormat
from webresearch.envs.rewards import RewardFn
from webresearch.errors import ConfigError, ConfigTypeError, did_you_mean
from webresearch.tasks import Task
from webresearch.web.backend import WebBackend
from webresearch.web.reader import KeywordReader, Reader, ReaderSource

__all__ = ["BROWSE_SCOPES", "FORMAT_ERROR_MODES", "EnvConfig", "check_option_names"]

FORMAT_ERROR_MODES = ("end", "feedback")
BROWSE_SCOPES = ("any", "latest", "searched")

TaskSource = str | Path | Sequence[Mapping[str, Any] | Task]
C = TypeVar("C")


def _named_options(cls: type[C]) -> type[C]:
    """Check the keywords of ``cls(...)`` by name before the dataclass's ``__init__`` runs
    (which would raise a bare ``TypeError``)."""
    generated = cls.__init__

    @functools.wraps(generated)
    def __init__(self: C, **options: Any) -> None:
        check_option_names(options)
        generated(self, **options)

    cls.__init__ = __init__  # type: ignore[assignment,method-assign]
    return cls


@_named_options
@dataclass(frozen=True, slots=True, kw_only=True)
class EnvConfig:
    """Options of :class:`~webresearch.envs.WebResearchEnv` (and of ``gym.make``).

    Example:
        >>> EnvConfig(max_turns=0)
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects max_turns >= 1, actual: 0
        >>> try:
        ...     EnvConfig(max_turn=5)
        ... except TypeError as exc:
        ...     print(exc)
        Expects an option of EnvConfig, actual: 'max_turn'. Did you mean 'max_turns'?
        >>> EnvConfig(max_turns="5")
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigTypeError: Expects max_turns of type int, actual: '5' (str)
    """

    tasks: TaskSource = "default"
    """``"default"`` (the web's own task set), a JSONL/JSON/Parquet path, or a list of records."""
    web: str | WebBackend = "sim"
    """``"sim"`` (the embedded simulated web), ``"sim:seed=N"``, or a backend instance."""
    action_format: str | ActionFormat = "deepresearcher"
    """``"deepresearcher"`` or ``"search-r1"`` (or an :class:`ActionFormat` instance)."""
    reward: str | RewardFn | None = None
    """A reward name (``deepresearcher``, ``f1``, ``em``, ``search-r1``) or a function of
    ``(submission, golds)`` (:class:`~webresearch.envs.rewards.Submission`: the final
    answer as the action format parsed it, and the agent's texts); ``None`` takes the
    action format's own. Without an answer, ``deepresearcher`` gives -1 and the others 0."""
    max_turns: int = 10
    """Tool calls (and, in feedback mode, invalid actions) allowed before the answer."""
    on_format_error: str = "end"
    """``"end"``: an invalid action ends the episode (DeepResearcher). ``"feedback"``: the
    observation says what was wrong and the agent may retry (Search-R1)."""
    top_k: int = 10
    """Search results shown per query."""
    max_queries: int = 3
    """Queries run per search call; further ones are dropped with a note."""
    max_urls: int = 3
    """URLs read per browse call; further ones are dropped with a note."""
    segment_chars: int = 3000
    """Characters of page text per browse; browsing a URL again returns its next segment."""
    max_observation_chars: int = 16000
    """Longest observation; longer ones are cut with a marker."""
    max_action_chars: int = 100_000
    """Longest action parsed; a longer one is an invalid action."""
    date: str | None = None
    """Date in the system prompt (ISO); ``None`` takes today's."""
    seed: int | None = None
    """Seeds task sampling when ``reset`` is first called without a seed."""
    reader: Reader | ReaderSource | None = None
    """``None``: browse shows a page's raw text, a segment per call. A reading agent (a
    :class:`~webresearch.web.reader.Reader`, or any policy, which reads through an
    :class:`~webresearch.web.reader.LLMReader`): browse gives the page to it segment
    by segment with the question, and the agent sees only what it extracts
    (DeepResearcher's browse)."""
    browse_scope: str = "any"
    """URLs browse accepts: ``"any"``, ``"latest"`` (only those in the latest search call's
    results) or ``"searched"`` (any search result of the episode). A refused URL is an
    observation that says so."""
    reader_segment_chars: int = 41_000
    """Characters per segment given to the reader (DeepResearcher: about 41,000)."""
    reader_max_segments: int = 5
    """Segments of one page the reader may read in an episode, however often it asks."""
    reader_max_tokens: int = 8192
    """Reader tokens one step may spend; reading stops once they are spent."""
    tools_in_prompt: bool = True
    """Whether the system prompt lists the tools' schemas. ``False``: it does not, and the
    schemas (``env.format.tool_schemas()``) go to the chat template instead, as
    DeepResearcher did and as TRL and verl do, so that they are not given twice."""
    blocked_domains: Sequence[str] | None = None
    """Domains whose search results are withheld and whose pages browse refuses (the
    observation says so): hosts (``kaggle.com``, subdomains included), host/path prefixes
    (``huggingface.co/datasets``), or ``"benchmarks"``: the hosts of the benchmarks' copies
    and Q&A dumps (:data:`~webresearch.envs.blocklist.BENCHMARK_HOSTS`). ``None`` (the
    default): none, but an evaluation blocks ``benchmarks``; ``()``: none, even there."""

    def __post_init__(self) -> None:
        for name, hint in _hints().items():
            value = _integral(getattr(self, name), hint)
            object.__setattr__(self, name, value)
            if not _matches(value, hint):
                _refuse(name, value)
        for name, least in _MINIMUM.items():
            if getattr(self, name) < least:
                raise ConfigError(f"Expects {name} >= {least}, actual: {getattr(self, name)!r}")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(f"Expects {name} in {list(choices)}, actual: "
                                  f"{getattr(self, name)!r}")
        if self.blocked_domains is not None:
            if not all(isinstance(entry, str) for entry in self.blocked_domains):
                _refuse("blocked_domains", self.blocked_domains)
            check_entries(self.blocked_domains)
            object.__setattr__(self, "blocked_domains", tuple(self.blocked_domains))

    @classmethod
    def of(cls, base: EnvConfig | None = None, /, **options: Any) -> EnvConfig:
        """``base`` (the defaults when ``None``) with the given ``options`` in place.

        Example:
            >>> EnvConfig.of(EnvConfig(max_turns=3), top_k=2).max_turns
            3
        """
        if base is None:
            return cls(**options)
        if not isinstance(base, EnvConfig):
            raise ConfigTypeError(f"Expects config of type EnvConfig or None, actual: "
                                  f"{reprlib.repr(base)} ({type(base).__name__})")
        return dataclasses.replace(base, **options) if options else base

    def to_json(self) -> dict[str, Any]:
        """The options as JSON, for a run's record; what no string can name (a web backend
        without a spec, a custom reward, a reader) is named with ``null`` in its place and
        listed under ``"unrecorded"``, to be given again when the env is re-created.

        Example:
            >>> data = EnvConfig(web="sim:seed=3", max_turns=4).to_json()
            >>> data["web"], data["max_turns"], data["unrecorded"]
            ('sim:seed=3', 4, [])
        """
        data: dict[str, Any] = {name: getattr(self, name) for name in _hints()
                                if name not in _OBJECTS}
        data["tasks"] = _tasks_json(self.tasks)
        data["web"] = self.web if isinstance(self.web, str) else self.web.spec()
        data["action_format"] = (self.action_format if isinstance(self.action_format, str)
                                 else self.action_format.name)
        data["reward"] = self.reward if isinstance(self.reward, str | None) else None
        data["reader"] = "keyword" if type(self.reader) is KeywordReader else None
        data["unrecorded"] = [name for name in ("web", "reward", "reader")
                              if getattr(self, name) is not None and data[name] is None]
        return data


_OBJECTS = ("tasks", "web", "action_format", "reward", "reader")
"""Options that are no plain JSON value."""
_MINIMUM = {"max_turns": 1, "top_k": 1, "max_queries": 1, "max_urls": 1, "segment_chars": 1,
            "reader_segment_chars": 1, "reader_max_segments": 1, "reader_max_tokens": 1,
            "max_observation_chars": 256, "max_action_chars": 1}
_CHOICES = {"browse_scope": BROWSE_SCOPES, "on_format_error": FORMAT_ERROR_MODES}


def _tasks_json(tasks: TaskSource) -> str | list[dict[str, Any]]:
    if isinstance(tasks, str | Path):
        return str(tasks) if str(tasks) == "default" else str(Path(tasks).resolve())
    return [t.to_json() if isinstance(t, Task) else dict(t) for t in tasks]


def check_option_names(options: Iterable[str], also: Iterable[str] = ()) -> None:
    """Raise a :class:`~webresearch.errors.ConfigTypeError` (with a did-you-mean) for the
    first keyword in ``options`` that is no :class:`EnvConfig` field (nor in ``also``)."""
    names = [*_hints(), *also]
    for name in options:
        if name not in names:
            raise ConfigTypeError(f"Expects an option of EnvConfig, actual: {name!r}."
                                  f"{did_you_mean(str(name).lower(), names)}".rstrip("."))


@functools.cache
def _hints() -> dict[str, Any]:
    """The fields of :class:`EnvConfig` and their types, resolved once."""
    hints = typing.get_type_hints(EnvConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(EnvConfig)}


def _integral(value: object, hint: Any) -> object:
    """An integer of another type (numpy's, from a sweep's ``np.arange``) as an ``int``
    where the option is one (so the config's JSON stays JSON); anything else as given."""
    if (isinstance(value, numbers.Integral) and not isinstance(value, int)
            and _matches(0, hint)):
        return int(value)
    return value


def _refuse(name: str, value: object) -> NoReturn:
    kind = type(value)
    kind_name = (kind.__name__ if kind.__module__ == "builtins"
                 else f"{kind.__module__}.{kind.__qualname__}")  # numpy.bool, not bool
    raise ConfigTypeError(f"Expects {name} of type {_type_name(_hints()[name])}, actual: "
                          f"{reprlib.repr(value)} ({kind_name})")


def _matches(value: object, hint: Any) -> bool:
    """Whether ``value`` has the annotated type ``hint``; a container's items are not
    looked at (task records are checked, with their place named, when they load)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is Callable:
        return callable(value)
    if hint is int:  # a bool is an int to Python, never a count to an option
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is Sequence and isinstance(value, str | bytes | bytearray | memoryview):
        return False  # a Sequence to Python, never a list of records or names
    return isinstance(value, origin or hint)


def _type_name(hint: Any) -> str:
    """``hint`` as it is written: ``str | Path | Sequence[Mapping[str, Any] | Task]``."""
    return hint.__name__ if isinstance(hint, type) else re.sub(r"[\w.]+\.", "", str(hint))
