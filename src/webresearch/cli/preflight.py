"""What a command checks before its first episode, and the CPU threads a model policy gets.

Configuration that cannot work (an unknown search engine, a missing API key, a policy
server that cannot be reached or does not serve the model) is one line and status 2
before any episode runs, never one error per episode and status 0.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping

from webresearch.errors import ConfigError
from webresearch.web.backend import WebBackend

__all__ = ["TORCH_THREADS_HELP", "check_policy_server", "check_web", "set_torch_threads",
           "torch_threads"]

logger = logging.getLogger(__name__)

TORCH_THREADS_HELP = (
    "CPU threads of an hf policy or reader (torch intra-op threads); default: "
    "$OMP_NUM_THREADS if set, else 1 (torch's own default, every core, can generate many "
    "times slower on a shared CPU)")
"""The ``--torch-threads`` flag's help, shared by the subcommands that take it."""


def torch_threads(requested: int | None, environ: Mapping[str, str] | None = None) -> int:
    """The intra-op threads torch gets: ``requested``, else ``$OMP_NUM_THREADS``, else 1.

    Example:
        >>> torch_threads(None, {}), torch_threads(None, {"OMP_NUM_THREADS": "4"})
        (1, 4)
        >>> torch_threads(2, {"OMP_NUM_THREADS": "4"})
        2
    """
    environ = os.environ if environ is None else environ
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"Expects --torch-threads >= 1, actual: {requested}")
        return requested
    text = environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else 1


def set_torch_threads(args: argparse.Namespace) -> int | None:
    """Set torch's threads for a command whose policy or reader is ``hf`` (a model run by
    torch in this process); returns the count, ``None`` when no hf model runs here."""
    if "hf" not in (getattr(args, "policy", None), getattr(args, "reader", None)):
        return None
    threads = torch_threads(getattr(args, "torch_threads", None))
    import torch  # noqa: PLC0415 - heavy; only an hf model needs it

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    logger.info("torch uses %d CPU threads (--torch-threads)", threads)
    return threads


def check_web(web: WebBackend) -> None:
    """A live backend's engine, endpoint and key, checked without a request."""
    from webresearch.crawlers.live import LiveWeb  # noqa: PLC0415 - loads aiohttp

    if isinstance(web, LiveWeb):
        web.check()


async def check_policy_server(kind: str, model: str | None, base_url: str | None, *,
                              flag: str = "--model") -> str | None:
    """An ``openai`` policy's (or reader's) server: reachable, and serving ``model``.
    Returns the model to ask for: ``model``, or without one the server's only model (what
    ``vllm serve DIR`` serves under the name ``DIR`` unless ``--served-model-name``)."""
    if kind != "openai" or not base_url:
        return model
    from webresearch.policies.openai_compat import OpenAIPolicy  # noqa: PLC0415

    async with OpenAIPolicy(base_url, model or "") as policy:
        if model:
            await policy.check_server()
            return model
        served = await policy.served_models()
    if served is not None and len(served) == 1:
        logger.info("%s %s: the only model %s serves", flag, served[0], base_url)
        return served[0]
    listed = served if served is not None else "no list at /models"
    raise ConfigError(f"Expects {flag} (the served model's name; {base_url} serves {listed}), "
                      "actual: none")
