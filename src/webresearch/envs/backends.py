"""Resolve the env's ``web`` option (``"sim"``, a backend instance, ...) to a web backend."""

from __future__ import annotations

from collections.abc import Callable

from webresearch.errors import ConfigError, unknown_name_error
from webresearch.web.backend import WebBackend

__all__ = ["WEB_BACKENDS", "make_web", "register_web"]


def _sim(arg: str) -> WebBackend:
    from webresearch.sim.sim_web import SimWeb, SimWebConfig  # noqa: PLC0415 - built on demand
    from webresearch.sim.world import WorldConfig  # noqa: PLC0415

    if not arg:
        return SimWeb()
    try:
        options = {key: int(value) for key, _, value in
                   (part.partition("=") for part in arg.split(","))}
        if not options.keys() <= {"seed", "scale"} or options.get("scale", 1) < 1:
            raise ValueError(arg)
    except ValueError:
        raise ConfigError("Expects 'sim', 'sim:seed=<int>' or 'sim:seed=<int>,scale=<int >= 1>', "
                          f"actual: 'sim:{arg}'") from None
    world = WorldConfig(seed=options.get("seed", 0)).scaled(options.get("scale", 1))
    return SimWeb(SimWebConfig(world=world))


def _live(arg: str) -> WebBackend:
    import os  # noqa: PLC0415

    from webresearch.crawlers.live import LiveWeb, LiveWebConfig  # noqa: PLC0415

    engine = arg or os.environ.get("WEBRESEARCH_SEARCH_ENGINE", "serper")
    return LiveWeb(LiveWebConfig(engine=engine))


def _replay(arg: str) -> WebBackend:
    from webresearch.replay.replay_web import ReplayWeb  # noqa: PLC0415

    if not arg:
        raise ConfigError("Expects 'replay:<store directory>[#<run id>]', actual: 'replay:'")
    path, _, run_id = arg.partition("#")
    return ReplayWeb(path, run_id=run_id or None)


def _corpus(arg: str) -> WebBackend:
    from webresearch.corpus.corpus_web import CorpusWeb  # noqa: PLC0415

    return CorpusWeb(arg)


def _serve(arg: str) -> WebBackend:
    from webresearch.sim.served import ServedWeb  # noqa: PLC0415

    return ServedWeb(arg)


def _retriever(arg: str) -> WebBackend:
    from webresearch.corpus.remote import RetrieverWeb  # noqa: PLC0415

    return RetrieverWeb(arg)


WEB_BACKENDS: dict[str, Callable[[str], WebBackend]] = {
    "sim": _sim, "live": _live, "replay": _replay, "corpus": _corpus, "serve": _serve,
    "retriever": _retriever}
"""Backend factories by spec name; a factory gets what follows ``name:`` in the spec."""


def register_web(name: str, factory: Callable[[str], WebBackend]) -> None:
    """Make ``web="name"`` / ``web="name:arg"`` build a backend with ``factory(arg)``."""
    WEB_BACKENDS[name] = factory


def make_web(spec: str | WebBackend) -> WebBackend:
    """Build the backend a spec names.

    Specs: ``sim``, ``sim:seed=3``, ``sim:seed=3,scale=8`` (eight times the entities),
    ``live[:searxng|:brave]``, ``replay:<dir>[#<run>]``,
    ``corpus:<JSONL file or named corpus>[#bm25|#bm25-stream|#dense]``,
    ``serve:<URL of webresearch serve-web>[#seed=<world seed>]`` (the live backend
    with that one local server opened to it), and ``retriever:<URL of a Search-R1-style
    retriever server>`` (``webresearch serve-corpus`` or Search-R1's own).

    Example:
        >>> type(make_web("sim")).__name__
        'SimWeb'
        >>> make_web("simm")
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects a web backend in ['corpus', 'live', ...
    """
    if isinstance(spec, WebBackend):
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"Expects a web spec string or a WebBackend, actual: {type(spec)}")
    name, _, arg = spec.partition(":")
    if name not in WEB_BACKENDS:
        raise unknown_name_error("web backend", name, WEB_BACKENDS)
    return WEB_BACKENDS[name](arg)
