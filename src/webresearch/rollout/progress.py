"""The rollout's progress bar: episodes/s, steps/s, cache hit rate and errors as they come."""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from webresearch.replay.schema import EpisodeRecord
from webresearch.rollout.summary import format_rate
from webresearch.web.closing import Closing

__all__ = ["Progress"]


class Progress(Closing):
    """Counts finished episodes and shows them on a tqdm bar (on stderr; off when disabled).

    Example:
        >>> from webresearch.status import EpisodeStatus
        >>> from webresearch.tasks import Task
        >>> with Progress(total=2, enabled=False) as progress:
        ...     progress.add(EpisodeRecord("r", Task(id="t", question="Q?", answers=("a",)),
        ...                                0, EpisodeStatus.ENV_ERROR, None, None, None))
        >>> progress.episodes, progress.errors
        (1, 1)
    """

    def __init__(self, total: int, *, enabled: bool = True, desc: str | None = None) -> None:
        self.bar = tqdm(total=total, unit="ep", disable=not enabled, dynamic_ncols=True,
                        desc=desc)
        self.start = time.perf_counter()
        self.episodes = self.steps = self.hits = self.misses = self.errors = 0

    def add(self, episode: EpisodeRecord) -> None:
        self.episodes += 1
        self.steps += len(episode.steps)
        self.hits += episode.cache_hits
        self.misses += episode.cache_misses
        self.errors += not episode.scored
        self.bar.update(1)
        if self.bar.disable:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        lookups = self.hits + self.misses
        self.bar.set_postfix(
            steps_per_s=format_rate(self.steps / elapsed),
            cache=f"{self.hits / lookups:.0%}" if lookups else "-",
            errors=self.errors, refresh=False)

    def close(self) -> None:
        self.bar.close()
