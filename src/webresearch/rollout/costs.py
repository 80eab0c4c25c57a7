"""A rollout's bill: every episode priced as it ends, and a budget that stops new episodes.

The prices are :class:`~webresearch.web.costs.Prices` (per search by engine, per fetch,
per reading); an episode's :class:`~webresearch.web.costs.Cost` goes into its record. With
a budget, no episode starts once the finished ones have cost that much: those in flight
finish and are recorded, so a run may pass its budget by at most their cost.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.replay.schema import EpisodeRecord
from webresearch.web.costs import CallRates, Prices, is_dollars

__all__ = ["Meter", "check_budget", "web_spec"]

logger = logging.getLogger(__name__)


def check_budget(budget_usd: float | None) -> None:
    """A budget is ``None`` (none) or a finite number of dollars above 0."""
    if budget_usd is None:
        return
    if not is_dollars(budget_usd) or budget_usd <= 0:
        raise ConfigError(f"Expects budget_usd > 0 (US dollars) or None, actual: "
                          f"{budget_usd!r:.40}")


def web_spec(env: WebResearchEnv) -> str | None:
    """The spec of the env's web backend (``"live:serper"``), which sets its prices."""
    spec = env.web.spec()  # the built backend's: ``live`` resolved to its engine
    return spec if spec is not None or not isinstance(env.config.web, str) else env.config.web


class Meter:
    """Prices each finished episode and says when the budget is spent.

    Example:
        >>> from webresearch.tasks import Task
        >>> meter = Meter(Prices(), "sim", budget_usd=1.0)
        >>> record = EpisodeRecord("r", Task(id="t", question="Q?", answers=("a",)), 0,
        ...                        "answered", 1.0, 1.0, 1.0)
        >>> meter.charge(record).cost.usd, meter.spent_usd, meter.reached
        (0.0, 0.0, False)
    """

    def __init__(self, prices: Prices, spec: str | None, *,
                 budget_usd: float | None = None) -> None:
        check_budget(budget_usd)
        self.rates: CallRates = prices.rates(spec)
        self.budget_usd = budget_usd
        self.spent_usd = 0.0
        self.stopped = False
        """Whether an episode was not started because the budget was spent."""

    @classmethod
    def for_env(cls, env: WebResearchEnv, prices: Prices | None,
                budget_usd: float | None) -> Meter:
        """The meter of a rollout whose envs are like ``env``."""
        return cls(prices or Prices(), web_spec(env), budget_usd=budget_usd)

    @property
    def reached(self) -> bool:
        """Whether the finished episodes have cost the budget (or more)."""
        return self.budget_usd is not None and self.spent_usd >= self.budget_usd

    def gate(self, jobs: Iterable[int]) -> Iterator[int]:
        """``jobs`` until the budget is spent: the runner's workers share it, and each asks
        it for the next episode just before starting one."""
        for job in jobs:
            if self.reached:
                self.stopped = True
                logger.info("the budget of $%s is spent ($%.6f): no new episode starts",
                            self.budget_usd, self.spent_usd)
                return
            yield job

    def charge(self, record: EpisodeRecord) -> EpisodeRecord:
        """``record`` with its cost, which is added to what was spent."""
        cost = self.rates.cost(step.web for step in record.steps)
        self.spent_usd += cost.usd
        return dataclasses.replace(record, cost=cost)
