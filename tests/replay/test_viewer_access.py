"""The viewer answers only its own address (no DNS rebinding) and shows every episode."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import aiohttp.test_utils
import pytest

from tests.replay.conftest import episode
from webresearch.replay.schema import RunRecord
from webresearch.replay.store import ReplayStore
from webresearch.replay.viewer import create_viewer
from webresearch.status import EpisodeStatus


def _hosts_answered(directory: Path, hosts: list[str], *, bind: str = "127.0.0.1"
                    ) -> dict[str, int]:
    async def main() -> dict[str, int]:
        with ReplayStore(directory, create=False) as store:
            server = aiohttp.test_utils.TestServer(create_viewer(store, host=bind))
            async with aiohttp.test_utils.TestClient(server) as client:
                out = {}
                for host in hosts:
                    header = host.format(port=server.port)
                    for path in ["/", "/api/runs", "/api/episodes", "/viewer.js"]:
                        response = await client.get(path, headers={"Host": header})
                        out[f"{header} {path}"] = response.status
                        if response.status == 421:
                            assert "Expects a Host header in" in (await response.json())["error"]
                return out

    return asyncio.run(main())


@pytest.fixture
def store(tmp_path: Path) -> Path:
    with ReplayStore(tmp_path) as opened:
        run = opened.create_run(RunRecord())
        opened.append([episode(run.run_id)])
    return tmp_path


def test_the_viewer_answers_its_own_loopback_names(store: Path) -> None:
    answered = _hosts_answered(store, ["127.0.0.1:{port}", "localhost:{port}",
                                       "LOCALHOST:{port}", "[::1]:{port}"])
    assert set(answered.values()) == {200}, answered


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1",
                                  "127.0.0.1:1", "127.0.0.1.evil.example:{port}", "",
                                  "localhost:{port}:{port}", "[::1]"])
def test_the_viewer_refuses_any_other_host(store: Path, host: str) -> None:
    """A page that rebinds its own name to 127.0.0.1 sends its name as the Host."""
    assert set(_hosts_answered(store, [host]).values()) == {421}


def test_a_host_bound_explicitly_is_answered_too(store: Path) -> None:
    answered = _hosts_answered(store, ["research-box:{port}", "other-box:{port}"],
                               bind="research-box")
    assert {k.split()[0].split(":")[0]: v for k, v in answered.items()} == {
        "research-box": 200, "other-box": 421}


# ---- every episode shows, whatever its status or error --------------------------------

NODE = shutil.which("node")
HARNESS = """
// viewer.js's showEpisode on a stub DOM; prints how many steps it drew.
const fs = require("fs");
const episode = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const made = [];
function node(tag) { const n = { tag, children: [], className: "", dataset: {}, options: [],
  value: "", remove() {}, append(...c) { this.children.push(...c); },
  set textContent(v) { this._t = v; if (v === "") this.children = []; },
  get textContent() { return this._t; } }; made.push(n); return n; }
const byId = {};
global.document = { body: { dataset: {} }, createElement: node,
  getElementById: (id) => byId[id] || (byId[id] = node("div")) };
global.location = { search: "?episode=x" };
global.Option = function () {};
global.fetch = async (url) => ({ ok: true, json: async () =>
  url.startsWith("/api/episode/") ? episode : { rows: [], datasets: [], statuses: [], total: 0 } });
eval(fs.readFileSync(process.argv[3], "utf8") + `
showEpisode().then(() => {
  const box = byId["episode"];
  const steps = box.children.filter((c) => c.className === "step").length;
  const text = JSON.stringify(made.map((n) => n._t));
  console.log(JSON.stringify({ steps, error: text.includes(episode.error) }));
});`);
"""


@pytest.mark.skipif(NODE is None, reason="needs node to run the viewer's script")
@pytest.mark.parametrize("status", list(EpisodeStatus), ids=str)
def test_the_viewer_script_draws_every_step_of_any_episode(tmp_path: Path,
                                                          status: EpisodeStatus) -> None:
    """An episode's own ``error`` field once read as a failed request: 0 of 11 steps drawn."""
    scored = status.scored
    record = dataclasses.replace(
        episode("r", status=status, reward=0.5), error=f"it ended as {status}",
        reward=0.5 if scored else None, f1=0.5 if scored else None, em=0.0 if scored else None,
        traceback=None if scored else "Traceback (most recent call last): ...")
    (tmp_path / "episode.json").write_text(json.dumps(record.to_json()))
    (tmp_path / "harness.js").write_text(HARNESS)
    script = resources.files("webresearch.replay").joinpath("viewer.js")
    assert NODE is not None
    result = subprocess.run([NODE, str(tmp_path / "harness.js"), str(tmp_path / "episode.json"),
                             str(script)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"steps": len(record.steps), "error": True}
