"""Judge verdicts recorded beside a run's episodes, so an evaluation table is frozen.

An evaluation scores each recorded episode's final answer; a model-based judge's verdict
is a record of its own (:class:`VerdictRecord`): which episode, what the judge decided
and why, the full prompt it was asked (and its SHA-256), its reply, and the judge's
identity (:class:`JudgeIdentity`: model, server without secrets, sampling settings,
prompt template). Re-scoring a run from the store reads these records and never calls
the judge, so a table stays reproducible after the judge model is retired.

Verdicts live under their own keys (``vd#<run>``, ``vd/<run>/<seq>``): a store written
before they existed has none and reads as before; they never change what
:meth:`~webresearch.replay.store.ReplayStore.runs` or ``episodes`` return.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from webresearch.errors import DamagedRecord, WebResearchError
from webresearch.net.urls import public_url
from webresearch.replay.reading import MAX_MISSING, StoreReader
from webresearch.replay.records import compress, reason, serialize, stored_text

__all__ = ["MAX_MISSING", "JudgeIdentity", "VerdictLog", "VerdictRecord", "VerdictSource",
           "public_url", "sha256_text"]

_VERSION = 1



def sha256_text(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), as hex.

    Example:
        >>> sha256_text("")[:16]
        'e3b0c44298fc1c14'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class VerdictSource(StrEnum):
    """Where a verdict came from."""

    EXACT = "exact"
    """The answer matched a gold alias exactly: no judge was asked."""
    JUDGE = "judge"
    """The judge was asked."""
    CACHE = "cache"
    """The judge's disk cache held the same judge's verdict."""
    NO_ANSWER = "no_answer"
    """The episode had no final answer: incorrect, without asking."""


@dataclass(frozen=True, slots=True)
class JudgeIdentity:
    """What makes two judges the same: a verdict is reused only under an equal identity.

    Attributes:
        model: The judge model's name on its server.
        base_url: The server's API root, without user, password, query or fragment.
        temperature, top_p, max_tokens, seed: The sampling settings of every call.
        prompt_id: The prompt template's name.
        prompt_sha256: The SHA-256 of the template's text.
    """

    model: str
    base_url: str = ""
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 0
    seed: int | None = None
    prompt_id: str = ""
    prompt_sha256: str = ""

    @property
    def key(self) -> str:
        """A digest of every field (equal identities, equal keys)."""
        return sha256_text(json.dumps(self.to_json(), sort_keys=True))

    def describe(self) -> str:
        """One line for messages: model, server, sampling, prompt.

        Example:
            >>> JudgeIdentity("m", "http://h/v1", max_tokens=8, prompt_id="p").describe()
            'm at http://h/v1 (temperature 0.0, top_p 1.0, max_tokens 8, seed None, prompt p)'
        """
        return (f"{self.model} at {self.base_url or '-'} (temperature {self.temperature}, "
                f"top_p {self.top_p}, max_tokens {self.max_tokens}, seed {self.seed}, "
                f"prompt {self.prompt_id or '-'})")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeIdentity:
        seed = data.get("seed")
        return cls(model=str(data["model"]), base_url=str(data.get("base_url", "")),
                   temperature=float(data.get("temperature", 0.0)),
                   top_p=float(data.get("top_p", 1.0)), max_tokens=int(data.get("max_tokens", 0)),
                   seed=int(seed) if seed is not None else None,
                   prompt_id=str(data.get("prompt_id", "")),
                   prompt_sha256=str(data.get("prompt_sha256", "")))


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """One judge verdict on one recorded episode's final answer.

    Attributes:
        run_id, episode_id: The episode judged.
        judge: Who judged.
        correct: The verdict.
        rationale: The judge's reason.
        source: Asked, cached or exact match (:class:`VerdictSource`).
        prompt: The full prompt the judge was (or would have been) asked; ``None`` for an
            exact match, which asks nothing.
        prompt_sha256: Its SHA-256.
        reply: The judge's reply text, when it was asked in this run.
        created_at: Unix time.
    """

    run_id: str
    episode_id: str
    judge: JudgeIdentity
    correct: bool
    rationale: str = ""
    source: VerdictSource = VerdictSource.JUDGE
    prompt: str | None = None
    prompt_sha256: str | None = None
    reply: str | None = None
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not isinstance(self.source, VerdictSource):
            object.__setattr__(self, "source", VerdictSource(self.source))
        if self.prompt is not None and self.prompt_sha256 is None:
            object.__setattr__(self, "prompt_sha256", sha256_text(self.prompt))

    def to_json(self) -> dict[str, Any]:
        return {"v": _VERSION, **{k: getattr(self, k) for k in (
            "run_id", "episode_id", "correct", "rationale", "source", "prompt", "prompt_sha256",
            "reply", "created_at")}, "judge": self.judge.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VerdictRecord:
        if data.get("v") != _VERSION:
            raise WebResearchError(f"Expects verdict schema version {_VERSION}, actual: "
                                   f"{data.get('v')!r:.20}")
        if not isinstance(data["correct"], bool):
            raise WebResearchError(f"Expects a boolean verdict, actual: {data['correct']!r:.20}")
        return cls(run_id=str(data["run_id"]), episode_id=str(data["episode_id"]),
                   judge=JudgeIdentity.from_json(data["judge"]), correct=data["correct"],
                   rationale=str(data["rationale"]), source=VerdictSource(data["source"]),
                   prompt=_optional_text(data, "prompt"),
                   prompt_sha256=_optional_text(data, "prompt_sha256"),
                   reply=_optional_text(data, "reply"), created_at=float(data["created_at"]))


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data[name]
    if value is not None and not isinstance(value, str):
        raise WebResearchError(f"Expects {name} as text or null, actual: "
                               f"{type(value).__name__}")
    return value


class VerdictLog(StoreReader):
    """The replay store's verdict records: appended in one transaction, read back checked."""

    def _write(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _check_size(self, what: str, raw: bytes) -> None:
        raise NotImplementedError

    def add_verdicts(self, verdicts: Sequence[VerdictRecord]) -> int:
        """Record ``verdicts`` (each of a run this store holds); return how many."""
        encoded: list[tuple[str, bytes]] = []
        for verdict in verdicts:
            run_id = stored_text(verdict.run_id)
            if not self._has(f"run/{run_id}"):
                raise WebResearchError(f"Expects verdicts on a run of this store, actual: "
                                       f"{run_id!r}; nothing was written")
            raw = serialize(verdict.to_json())
            self._check_size(f"the verdict on {verdict.episode_id!r}", raw)
            encoded.append((run_id, compress(raw)))
        with self._write():
            for run_id, blob in encoded:
                seq = self._int(f"vd#{run_id}")
                self._cache.set(f"vd/{run_id}/{seq:010d}", blob)
                self._cache.set(f"vd#{run_id}", seq + 1)
        return len(encoded)

    def verdicts(self, run_id: str) -> list[VerdictRecord]:
        """Every readable verdict on ``run_id``'s episodes, oldest first (damaged ones are
        skipped and noted, as damaged episodes are)."""
        return list(self._verdicts(stored_text(run_id)))

    def _verdicts(self, run_id: str) -> Iterator[VerdictRecord]:
        for key in self._numbered(f"vd#{run_id}", lambda seq: f"vd/{run_id}/{seq:010d}"):
            try:
                data = self._record(key)
                try:
                    verdict = VerdictRecord.from_json(data)
                except (KeyError, TypeError, ValueError, AttributeError,
                        WebResearchError) as exc:
                    raise self._damage(key, reason(exc)) from exc
                if verdict.run_id != run_id:
                    raise self._damage(key, f"expects run_id {run_id!r}, actual: "
                                            f"{verdict.run_id!r:.40}")
                yield verdict
            except DamagedRecord as exc:
                self._skip(exc)
