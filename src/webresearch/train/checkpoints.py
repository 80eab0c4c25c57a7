"""Checkpoints of a learner: its weights and its cursor in the store, together.

Each step's checkpoint is one directory, ``step-000012/``, holding ``learner.pt`` (what
the learner's ``save`` writes) and ``cursor.json`` (where it stopped reading the store,
and which groups the step trained on and skipped). It is written under a temporary name
and renamed into place, so a learner killed at any moment leaves either the whole
checkpoint or none of it: the weights never run ahead of the cursor, or behind it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webresearch.errors import WebResearchError
from webresearch.replay.cursor import CursorState

__all__ = ["Checkpoint", "SkippedGroup", "latest_checkpoint", "save_checkpoint"]

_STEP = re.compile(r"step-(\d{6,})")


@dataclass(frozen=True, slots=True)
class SkippedGroup:
    """A group the learner left out as too stale."""

    group_id: str
    version: int
    """The policy version that sampled it."""
    learner_version: int
    """The learner's version when it was skipped (more than ``max_staleness`` later)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """One step's checkpoint: where it is, and the cursor and groups it recorded."""

    step: int
    path: Path
    """Its directory; the learner's state is ``path / "learner.pt"``."""
    cursor: CursorState
    trained: tuple[str, ...]
    """The groups this step trained on."""
    skipped: tuple[SkippedGroup, ...]
    """The groups skipped as too stale before this step."""

    @property
    def learner_path(self) -> Path:
        return self.path / "learner.pt"

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "cursor": self.cursor.to_json(), "trained": list(self.trained),
                "skipped": [[s.group_id, s.version, s.learner_version] for s in self.skipped]}

    @classmethod
    def read(cls, path: Path) -> Checkpoint:
        """The checkpoint in directory ``path``."""
        data = json.loads((path / "cursor.json").read_text(encoding="utf-8"))
        return cls(step=data["step"], path=path, cursor=CursorState.from_json(data["cursor"]),
                   trained=tuple(data["trained"]),
                   skipped=tuple(SkippedGroup(g, v, lv) for g, v, lv in data["skipped"]))


def save_checkpoint(directory: Path, *, step: int, save_learner: Callable[[Path], None],
                    cursor: CursorState, trained: tuple[str, ...],
                    skipped: tuple[SkippedGroup, ...], keep: int | None = 2) -> Checkpoint:
    """Write step ``step``'s checkpoint whole (or not at all); keep the ``keep`` newest.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for step in (1, 2, 3):
        ...     _ = save_checkpoint(root, step=step, save_learner=lambda p: p.write_text("w"),
        ...                         cursor=CursorState(run_id="r"), trained=(), skipped=())
        >>> latest_checkpoint(root).step, sorted(p.name for p in root.iterdir())
        (3, ['step-000002', 'step-000003'])
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:06d}"
    temporary = directory / f".{final.name}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    checkpoint = Checkpoint(step=step, path=final, cursor=cursor, trained=trained,
                            skipped=skipped)
    save_learner(temporary / "learner.pt")
    (temporary / "cursor.json").write_text(json.dumps(checkpoint.to_json()), encoding="utf-8")
    _sync(temporary)
    shutil.rmtree(final, ignore_errors=True)  # a step re-taken after a restart that kept it
    temporary.replace(final)
    _sync(directory)
    if keep is not None:
        for old in _steps(directory)[:-keep]:
            shutil.rmtree(old)
    return checkpoint


def latest_checkpoint(directory: Path) -> Checkpoint | None:
    """The newest whole checkpoint in ``directory`` (``None`` when there is none)."""
    steps = _steps(directory) if directory.is_dir() else []
    if not steps:
        return None
    try:
        return Checkpoint.read(steps[-1])
    except (OSError, ValueError, KeyError) as exc:
        raise WebResearchError(f"Expects a readable checkpoint, actual: {steps[-1]} "
                               f"({type(exc).__name__}: {exc})") from exc


def _steps(directory: Path) -> list[Path]:
    found = [p for p in directory.iterdir() if p.is_dir() and _STEP.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def _sync(path: Path) -> None:
    """Flush a directory's files and its entries to disk."""
    for item in [*(p for p in path.iterdir() if not p.is_dir()), path]:
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
