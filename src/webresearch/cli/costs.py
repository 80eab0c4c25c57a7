"""The command line's price, budget and blocklist options, shared by ``rollout`` and ``eval``."""

from __future__ import annotations

import argparse

from webresearch.errors import ConfigError
from webresearch.rollout.summary import RolloutSummary
from webresearch.web.costs import Prices

__all__ = ["add_blocklist_option", "add_cost_options", "blocked_domains", "budget_note",
           "prices_of"]


def add_cost_options(parser: argparse.ArgumentParser, *, blocked: str) -> None:
    """``--budget-usd``, ``--search-usd``, ``--fetch-usd``, ``--read-usd`` and
    ``--blocked-domains`` (whose default is ``blocked``)."""
    parser.add_argument("--budget-usd", type=float,
                        help="US dollars the web calls may cost: once spent, no episode "
                             "starts (those in flight finish and are recorded)")
    parser.add_argument("--search-usd", type=float,
                        help="US dollars per search (default: the engine's list price, "
                             "serper 0.001, brave 0.005; sim, corpus and replay 0)")
    parser.add_argument("--fetch-usd", type=float, default=0.0,
                        help="US dollars per page fetched (default: 0)")
    parser.add_argument("--read-usd", type=float, default=0.0,
                        help="US dollars per reading-agent call (default: 0)")
    add_blocklist_option(parser, blocked)


def add_blocklist_option(parser: argparse.ArgumentParser, blocked: str) -> None:
    """``--blocked-domains``, whose default is ``blocked``."""
    parser.add_argument("--blocked-domains", default=blocked,
                        help="comma-separated hosts (or host/path) whose results are withheld "
                             "and pages refused; 'benchmarks' names the hosts of benchmark "
                             f"copies, 'none' none (default: {blocked})")


def prices_of(args: argparse.Namespace, web_spec: str | None) -> Prices:
    """The prices the options give for a run on the web ``web_spec`` names."""
    if getattr(args, "workers", 0) and args.budget_usd is not None:
        raise ConfigError(f"Expects --budget-usd on the local runner (--workers 0), actual: "
                          f"--workers {args.workers}")
    prices = Prices(fetch_usd=args.fetch_usd, read_usd=args.read_usd)
    return prices if args.search_usd is None else prices.with_search(web_spec, args.search_usd)


def blocked_domains(args: argparse.Namespace) -> tuple[str, ...]:
    """``--blocked-domains`` as entries (``none``: none)."""
    entries = tuple(e.strip() for e in args.blocked_domains.split(",") if e.strip())
    if "none" in entries and len(entries) > 1:
        raise ConfigError(f"Expects --blocked-domains 'none' alone, actual: "
                          f"{args.blocked_domains!r}")
    return () if entries == ("none",) else entries


def budget_note(summary: RolloutSummary, budget_usd: float | None, scheduled: int) -> str | None:
    """One line when the budget stopped the run before its scheduled episodes, else ``None``.

    Example:
        >>> from webresearch.rollout.summary import summarize
        >>> budget_note(summarize([], 1.0), 0.5, 10) is None  # nothing was spent
        True
    """
    if budget_usd is None or summary.episodes >= scheduled or summary.cost_usd < budget_usd:
        return None
    return (f"budget reached: ${summary.cost_usd:.4f} spent of ${budget_usd:g}; "
            f"{summary.episodes} of {scheduled} episodes ran (those in flight finished)")
