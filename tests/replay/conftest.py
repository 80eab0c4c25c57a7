"""Helpers for replay tests: episodes to store, and a policy that reads URLs off the page."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from webresearch.policies import ChatMessage, ScriptedPolicy
from webresearch.replay.schema import EpisodeRecord, StepRecord
from webresearch.tasks import Task
from webresearch.web.backend import Page, SearchHit, SearchResults
from webresearch.web.calls import WebCall

TASK = Task(id="t1", question="Who?", answers=("Ada",), dataset="sim", kind="chain", hops=2)


def episode(run_id: str, *, group: int = 0, reward: float = 1.0, status: str = "answered",
            task: Task = TASK, size: int = 100) -> EpisodeRecord:
    """A small episode with one search and one page."""
    search = WebCall("search", "who", SearchResults("who", (SearchHit("A", "u:a", "s"),)), 10, 0.1)
    page = WebCall("fetch", "u:a", Page("u:a", "u:a", 200, "A", "x" * size, 1.0), 0, 0.2)
    steps = (StepRecord("<tool_call>...</tool_call>", "search", ("who",), "results", 0.0,
                        (search,), 0.01, 0.02, None, (1, 2), (-0.1, -0.2)),
             StepRecord("<tool_call>...</tool_call>", "browse", ("u:a",), "page", 0.0, (page,)),
             StepRecord("<answer>Ada</answer>", "answer", ("Ada",), "", reward))
    return EpisodeRecord(run_id, task, group, status, reward, reward, reward, "Ada",
                         ({"role": "user", "content": "Who?"},), steps, seed=3,
                         token_ids=(1, 2, 3), loss_mask=(0, 1, 1), logprobs=(0.0, -0.1, -0.2))


class ReadingPolicy(ScriptedPolicy):
    """Searches the first supporting title, browses the first URL shown, answers the gold.

    Unlike the oracle it takes URLs from the observations, so it works on any web
    (the simulated web's own URLs, or the loopback server's).
    """

    name = "reading"

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = {t.question: t for t in tasks}

    def act(self, conversation: Sequence[ChatMessage]) -> str:
        task = self.tasks[conversation[1]["content"]]
        turns = len(conversation) // 2 - 1
        if turns == 0:
            call = {"name": "web_search", "arguments": {"query": [task.supporting[0].title]}}
        elif turns == 1:
            url = re.search(r"URL: (\S+)", conversation[-1]["content"])
            call = {"name": "browse_webpage", "arguments": {"url_list": [url.group(1)]}}
        else:
            return f"<think>done</think><answer>{task.answers[0]}</answer>"
        return f"<think>t{turns}</think><tool_call>{json.dumps(call)}</tool_call>"


HOLD_LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Another process holds ``database``'s SQLite write lock until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(database)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield
    finally:
        proc.kill()
        proc.communicate(timeout=60)
