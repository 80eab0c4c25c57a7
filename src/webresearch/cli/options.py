"""What every subcommand shares: the parser (help on every flag, defaults shown) and the
policy options with their checks."""

from __future__ import annotations

import argparse
from typing import Any

from webresearch.cli.preflight import TORCH_THREADS_HELP
from webresearch.envs.backends import make_web
from webresearch.errors import ConfigError
from webresearch.net.urls import public_text
from webresearch.policies.factory import MODEL_POLICIES, POLICIES
from webresearch.web.backend import WebBackend

__all__ = ["WEB_HELP", "HelpFormatter", "Parser", "add_policy_options", "args_json",
           "check_policy_options", "check_tasks_option", "help_missing"]

WEB_HELP = ("web backend: sim, sim:seed=<int>, live[:searxng|:brave], "
            "serve:<URL of webresearch serve-web>, corpus:<JSONL file or named corpus>"
            "[#bm25|#bm25-stream|#dense], retriever:<URL of a Search-R1-style retriever "
            "server>, replay:<store>[#<run id>]")
"""The ``--web`` flag's help, shared by the subcommands that take it."""


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to a flag's help unless the help already names its default
    or there is none worth naming (``None``, a switch's ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False
                or default == argparse.SUPPRESS or isinstance(action, argparse._HelpAction)
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose help shows defaults; its subcommands are ``Parser`` too.

    Example:
        >>> parser = Parser(prog="demo")
        >>> _ = parser.add_argument("--k", type=int, default=5, help="hits to print")
        >>> "hits to print (default: 5)" in parser.format_help()
        True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def help_missing(parser: argparse.ArgumentParser, path: str = "") -> list[str]:
    """``"<subcommand> <flag>"`` for every argument of ``parser`` and its subcommands
    that has no help text.

    Example:
        >>> parser = Parser(prog="demo")
        >>> _ = parser.add_argument("--quiet", action="store_true")
        >>> help_missing(parser)
        ['--quiet']
    """
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += help_missing(sub, f"{path} {name}".strip())
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            flag = "/".join(action.option_strings) or action.dest
            missing.append(f"{path} {flag}".strip())
    return missing


def add_policy_options(parser: argparse.ArgumentParser, *, default: str) -> None:
    """``--policy``, ``--model``, ``--base-url`` and ``--torch-threads``, as rollout and eval
    take them."""
    parser.add_argument("--policy", default=default, choices=POLICIES,
                        help="which policy acts: a scripted one (no model) or a model served "
                             "by hf, vllm or an OpenAI-compatible server (openai)")
    parser.add_argument("--model",
                        help="model directory (hf, vllm) or served model name (openai; "
                             "default: the server's only model)")
    parser.add_argument("--base-url",
                        help="with --policy openai: the server's OpenAI-compatible API root, "
                             "e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--torch-threads", type=int, help=TORCH_THREADS_HELP)


def check_policy_options(args: argparse.Namespace) -> None:
    """Say which flag a model policy lacks, the server's address first.

    Example:
        >>> check_policy_options(argparse.Namespace(policy="openai", model=None, base_url=None))
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects --base-url with --policy openai (the ...
    """
    if args.policy == "openai" and not args.base_url:
        raise ConfigError("Expects --base-url with --policy openai (the server's "
                          "OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1), "
                          "actual: none")
    if args.policy in MODEL_POLICIES and args.policy != "openai" and not args.model:
        raise ConfigError(f"Expects --model with --policy {args.policy} (a model directory), "
                          "actual: none")  # openai: the server's only model by default


async def check_tasks_option(tasks: str, web: str | WebBackend, spec: str = "") -> None:
    """``--tasks default`` needs a web with its own task set: say so in the CLI's terms
    (``spec``: the ``--web`` the user gave, when ``web`` is the backend built from it)."""
    if tasks != "default":
        return
    backend = make_web(web)
    try:
        has_tasks = backend.default_tasks() is not None
    finally:
        if backend is not web:
            await backend.aclose()
    if not has_tasks:
        raise ConfigError(f"Expects --tasks <JSONL/JSON/Parquet task file> with --web "
                          f"{spec or web}, which has no task set of its own, actual: "
                          "--tasks default")


def args_json(args: argparse.Namespace) -> dict[str, str]:
    """A command's arguments as a run records them: text, with no URL's user, password or
    query (a ``--judge`` or ``--base-url`` may carry a key).

    Example:
        >>> args_json(argparse.Namespace(judge="https://me:sk-1@api.test/v1?key=sk-1", k=3))
        {'judge': 'https://api.test/v1', 'k': '3'}
    """
    return {k: public_text(str(v)) for k, v in vars(args).items()}

