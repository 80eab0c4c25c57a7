"""The options of ``WebResearch-v0``, as one dataclass with a docstring per field.

:class:`EnvConfig` is their one declaration: ``WebResearchEnv(**options)`` and
``gym.make("WebResearch-v0", **options)`` build one from their keywords, which are
checked by name (an unknown one gets a did-you-mean) and by type against its fields.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import reprlib
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
    :class:`~webresearch.policies.reader.LLMReader`): browse gives the page to it segment
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
            _check_type(name, value, hint)
        for name in ("max_turns", "top_k", "max_queries", "max_urls", "segment_chars",
                     "reader_segment_chars", "reader_max_segments", "reader_max_tokens"):
            _check_positive(name, getattr(self, name))
        if self.max_observation_chars < 256:
            raise ConfigError(
                f"Expects max_observation_chars >= 256, actual: {self.max_observation_chars}"
            )
        _check_positive("max_action_chars", self.max_action_chars)
        _check_blocked_domains(self)
        if self.browse_scope not in BROWSE_SCOPES:
            raise ConfigError(f"Expects browse_scope in {list(BROWSE_SCOPES)}, actual: "
                              f"{self.browse_scope!r}")
        if self.on_format_error not in FORMAT_ERROR_MODES:
            raise ConfigError(
                f"Expects on_format_error in {list(FORMAT_ERROR_MODES)}, "
                f"actual: {self.on_format_error!r}"
            )

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
        data: dict[str, Any] = {name: getattr(self, name) for name in _PLAIN}
        unrecorded: list[str] = []
        data["tasks"] = _tasks_json(self.tasks)
        data["web"] = self.web if isinstance(self.web, str) else self.web.spec()
        data["action_format"] = (self.action_format if isinstance(self.action_format, str)
                                 else self.action_format.name)
        data["reward"] = self.reward if self.reward is None or isinstance(self.reward, str) \
            else None
        data["reader"] = "keyword" if type(self.reader) is KeywordReader else None
        for name, given in (("web", self.web), ("reward", self.reward), ("reader", self.reader)):
            if given is not None and data[name] is None:
                unrecorded.append(name)
        data["unrecorded"] = unrecorded
        return data


_PLAIN = ("max_turns", "on_format_error", "top_k", "max_queries", "max_urls", "segment_chars",
          "max_observation_chars", "max_action_chars", "date", "seed", "browse_scope",
          "reader_segment_chars", "reader_max_segments", "reader_max_tokens",
          "tools_in_prompt", "blocked_domains")
"""Options that are plain JSON values."""


def _check_blocked_domains(config: EnvConfig) -> None:
    """A sequence of strings (not one string), each a host or host/path; kept as a tuple."""
    entries = config.blocked_domains
    if entries is None:
        return
    if isinstance(entries, str) or not all(isinstance(e, str) for e in entries):
        raise ConfigTypeError(f"Expects blocked_domains of type "
                              f"{_type_name(_hints()['blocked_domains'])}, actual: "
                              f"{reprlib.repr(entries)} ({type(entries).__name__})")
    check_entries(entries)
    object.__setattr__(config, "blocked_domains", tuple(entries))


def _tasks_json(tasks: TaskSource) -> str | list[dict[str, Any]]:
    if isinstance(tasks, str | Path):
        return str(tasks) if str(tasks) == "default" else str(Path(tasks).resolve())
    return [t.to_json() if isinstance(t, Task) else dict(t) for t in tasks]


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"Expects {name} >= 1, actual: {value!r}")


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


def _check_type(name: str, value: object, hint: Any) -> None:
    if not _matches(value, hint):
        kind = type(value)
        kind_name = (kind.__name__ if kind.__module__ == "builtins"
                     else f"{kind.__module__}.{kind.__qualname__}")  # numpy.bool, not bool
        raise ConfigTypeError(f"Expects {name} of type {_type_name(hint)}, actual: "
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
    if origin is Sequence and isinstance(value, bytes | bytearray | memoryview):
        return False  # a Sequence of ints to Python, never a list of records or names
    return isinstance(value, origin or hint)


def _type_name(hint: Any) -> str:
    """``hint`` as it is written: ``str | Path | Sequence[Mapping[str, Any] | Task]``."""
    if isinstance(hint, list):
        return "[" + ", ".join(_type_name(h) for h in hint) + "]"
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    name = "None" if hint is type(None) else getattr(hint, "__name__", str(hint))
    if typing.get_origin(hint) is not None:
        name = typing.get_origin(hint).__name__
    return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name
