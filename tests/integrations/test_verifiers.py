"""verifiers 0.4: the tasks as a ``verifiers.v1`` Taskset, the tools as a Toolset."""

from __future__ import annotations

import asyncio
import re

import pytest

vf = pytest.importorskip("verifiers.v1")

from webresearch.envs.config import EnvConfig  # noqa: E402
from webresearch.errors import StateError  # noqa: E402
from webresearch.integrations.verifiers import make_taskset, make_toolset  # noqa: E402
from webresearch.status import EpisodeStatus  # noqa: E402

CONFIG = EnvConfig(tasks=[{"question": "Who founded Pogre Works?",
                           "answers": ["Kraemukreisk Jepudou"]},
                          {"question": "What is Pogre Works?", "answers": ["a company"]}])


def test_taskset_yields_typed_tasks_through_verifiers_views() -> None:
    taskset = make_taskset(CONFIG)
    assert isinstance(taskset, vf.Taskset)
    tasks = list(taskset.take(1))
    assert len(tasks) == 1 and isinstance(tasks[0], vf.Task)
    data = tasks[0].data
    assert data.prompt == "Who founded Pogre Works?" and data.idx == 0
    assert "<tools>" not in data.system_prompt and "<answer>" in data.system_prompt
    assert [t.data.name for t in taskset.exclude(idx=["0"])] == [list(taskset)[1].data.name]


def test_toolset_tools_run_the_env_and_answer_gets_its_reward() -> None:
    toolset = make_toolset(CONFIG)
    assert isinstance(toolset, vf.Toolset)
    from verifiers.v1.utils.decorators import discover_decorated

    names = sorted(fn.__name__ for fn in discover_decorated(toolset, "tool"))
    assert names == ["answer", "browse_webpage", "web_search"]
    with pytest.raises(StateError, match=re.escape("Expects start(info)")):
        asyncio.run(toolset.web_search(["Pogre Works"]))
    toolset.start(next(iter(make_taskset(CONFIG))).data.info)
    assert "Pogre Works" in asyncio.run(toolset.web_search(["Pogre Works"]))
    assert asyncio.run(toolset.answer("Kraemukreisk Jepudou")) == "Answer recorded (reward 1)."
    assert toolset.outcome.status is EpisodeStatus.ANSWERED and toolset.outcome.tool_calls == 1
