"""Domains that host the benchmarks: their search results are withheld, their pages refused.

``EnvConfig(blocked_domains=...)`` turns it on; an evaluation turns it on for envs that
did not choose (:func:`webresearch.evaluation.blocking.blocking`). An entry is a host
(``kaggle.com``: it and its subdomains) or a host and a path prefix
(``huggingface.co/datasets``: only pages under it, on whole path segments). The entry
``benchmarks`` stands for :data:`BENCHMARK_HOSTS`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

import yarl

from webresearch.errors import ConfigError

__all__ = ["BENCHMARK_HOSTS", "Blocklist", "check_entries"]

BENCHMARK_HOSTS: tuple[str, ...] = (
    # dataset hubs and their mirrors: every benchmark's files and viewer pages
    "huggingface.co/datasets", "hf.co/datasets", "hf-mirror.com/datasets",
    "datasets-server.huggingface.co", "modelscope.cn/datasets", "kaggle.com",
    "paperswithcode.com/dataset", "tensorflow.org/datasets", "raw.githubusercontent.com",
    # the benchmarks' own homes and repositories
    "ai.google.com/research/NaturalQuestions", "github.com/google-research-datasets",
    "nlp.cs.washington.edu/triviaqa", "github.com/mandarjoshi90/triviaqa",
    "hotpotqa.github.io", "github.com/hotpotqa", "github.com/Alab-NII/2wikimultihop",
    "github.com/StonyBrookNLP/musique", "github.com/ofirpress/self-ask",
    "github.com/AlexTMallen/adaptive-retrieval", "github.com/PeterGriffinJin/Search-R1",
    "github.com/GAIR-NLP/DeepResearcher", "github.com/RUC-NLPIR/FlashRAG",
    # where TriviaQA's question-answer pairs were scraped from, and Q&A dumps
    "j-archive.com", "quizlet.com", "funtrivia.com", "sporcle.com",
)
"""Hosts of NQ, TriviaQA, HotpotQA, 2Wiki, Musique, Bamboogle and PopQA copies and Q&A
dumps: the dataset hubs (Hugging Face, its mirrors, ModelScope, Kaggle, Papers with Code,
TFDS, raw GitHub files), each benchmark's home page and repository (and those of
Search-R1, DeepResearcher and FlashRAG, which ship the evaluation splits), and the quiz
sites TriviaQA was scraped from. Wikipedia is not on it: it is the evidence."""

_ENTRY = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(/[^\s?#]*)?")


def check_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """The entries, checked: ``host`` or ``host/path``, or ``benchmarks``.

    Example:
        >>> check_entries(["Kaggle.com", "benchmarks"])[:2]
        ('kaggle.com', 'huggingface.co/datasets')
        >>> check_entries(["https://x.org"])
        Traceback (most recent call last):
        ...
        webresearch.errors.ConfigError: Expects a blocked domain as host or host/path ...
    """
    out: list[str] = []
    for entry in entries:
        if entry == "benchmarks":
            out.extend(e.lower() for e in BENCHMARK_HOSTS)
            continue
        lowered = entry.strip().lower().rstrip("/")
        if not _ENTRY.fullmatch(lowered):
            raise ConfigError(f"Expects a blocked domain as host or host/path (kaggle.com, "
                              f"huggingface.co/datasets) or 'benchmarks', actual: {entry!r}")
        out.append(lowered)
    return tuple(dict.fromkeys(out))


class Blocklist:
    """Answers whether a URL is on a blocked domain.

    Example:
        >>> block = Blocklist(["kaggle.com", "huggingface.co/datasets"])
        >>> block.match("https://www.kaggle.com/c/x"), block.match("https://kaggle.community")
        ('kaggle.com', None)
        >>> block.match("https://huggingface.co/datasets/nq"), block.match(
        ...     "https://huggingface.co/datasetsfoo")
        ('huggingface.co/datasets', None)
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: dict[str, list[tuple[str, str]]] = {}
        for entry in check_entries(entries):
            host, slash, path = entry.partition("/")
            self.entries.setdefault(host.removeprefix("www."), []).append(
                (entry, slash + path))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def match(self, url: str) -> str | None:
        """The entry that blocks ``url`` however it is read (:func:`_places`), or ``None``."""
        for host, path in _places(url):
            labels = host.split(".")
            for i in range(len(labels)):  # the host and each parent domain: linear in labels
                for entry, prefix in self.entries.get(".".join(labels[i:]), ()):
                    if not prefix or path == prefix or path.startswith(prefix + "/"):
                        return entry
        return None


def _places(url: str) -> list[tuple[str, str]]:
    """Each ``(host without www., lower-case path)`` that ``url`` may reach: as the HTTP
    client (yarl) resolves it (IDNA: ``ｋａｇｇｌｅ。com`` is ``kaggle.com``; percent-escapes
    decoded, dot and empty segments gone: ``/x/../%64atasets``), as ``urlsplit`` reads it
    (a port that is no number still names its host), and with ``\\`` read as ``/``, as
    browsers do; never the root's dot (``kaggle.com.``)."""
    url = url.strip()
    found: list[tuple[str, str]] = []
    for text in dict.fromkeys((url, url.replace("\\", "/"))):
        try:
            parts = urlsplit(text)
            if parts.hostname:
                path = posixpath.normpath(_SLASHES.sub("/", "/" + unquote(parts.path)))
                found.append((_idna(parts.hostname), path))
        except ValueError:
            pass
    try:
        parsed = yarl.URL(url)
        if parsed.host:
            found.append((parsed.host, parsed.path))
    except (ValueError, UnicodeError, TypeError):
        pass
    return [(host.rstrip(".").removeprefix("www."), _SLASHES.sub("/", path.lower()).rstrip("/"))
            for host, path in found]


def _idna(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host


_SLASHES = re.compile("/+")
