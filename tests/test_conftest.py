"""CI's no-skip rule (``WEBRESEARCH_CI=1``) and the dev-set fallback, from tests/conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEV_SAMPLE, PYTHONPATH, dev_questions
from webresearch.tasks import load_tasks

ROOT = Path(__file__).resolve().parents[1]
SKIPPING = '''
import pytest

def test_plain_skip():
    pytest.skip("needs .venv-vllm")

@pytest.mark.skipif(True, reason="needs chromium")
def test_skipif():
    pass

@pytest.mark.gpu
def test_gpu_may_skip():
    pytest.skip("no GPU here")

@pytest.mark.xfail(reason="known")
def test_xfail_is_not_a_skip():
    assert False

def test_passes():
    pass
'''
MODULE_SKIP = 'import pytest\n\npytest.importorskip("no_such_module_here")\n\n' \
              'def test_never_runs():\n    pass\n'


def outcomes(tmp_path: Path, ci: str) -> dict[str, str]:
    """Run pytest with this project's conftest on two generated test files."""
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    report = tmp_path / "report.jsonl"
    code = (
        "import json, sys, pytest\n"
        "class Log:\n"
        "    def pytest_runtest_logreport(self, report):\n"
        "        if report.when == 'call' or report.outcome != 'passed':\n"
        "            self.write(report.nodeid, report.outcome)\n"
        "    def pytest_collectreport(self, report):\n"
        "        if report.outcome != 'passed':\n"
        "            self.write(report.nodeid, report.outcome)\n"
        "    def write(self, node, outcome):\n"
        "        with open(sys.argv[1], 'a') as f:\n"
        "            f.write(json.dumps([node.split('::')[-1], outcome]) + '\\n')\n"
        "sys.exit(pytest.main(['-q', '-p', 'tests.conftest', '-c', sys.argv[2],\n"
        "                      '--rootdir', sys.argv[3], '-o', 'addopts=',\n"
        "                      '--continue-on-collection-errors', sys.argv[3]],\n"
        "                     plugins=[Log()]))\n")
    env = {**os.environ, "WEBRESEARCH_CI": ci, "PYTHONPATH": PYTHONPATH}
    done = subprocess.run([sys.executable, "-c", code, str(report), str(ROOT / "setup.cfg"),
                           str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert report.exists(), done.stdout + done.stderr
    lines = report.read_text().splitlines()
    return {name: outcome for name, outcome in map(json.loads, lines)}


def test_ci_turns_skips_into_failures(tmp_path: Path) -> None:
    got = outcomes(tmp_path, "1")
    assert got["test_plain_skip"] == got["test_skipif"] == "failed"
    assert got["test_module_skip.py"] == "failed"
    assert got["test_gpu_may_skip"] == "skipped" and got["test_passes"] == "passed"
    assert got["test_xfail_is_not_a_skip"] == "skipped"  # pytest reports an xfail as skipped


def test_outside_ci_skips_stay_skips(tmp_path: Path) -> None:
    got = outcomes(tmp_path, "")
    assert got["test_plain_skip"] == got["test_skipif"] == got["test_module_skip.py"] == "skipped"


@pytest.mark.parametrize("path", [DEV_SAMPLE], ids=["sample"])
def test_the_dev_sample_has_the_dev_sets_shape(path: Path) -> None:
    """Seven datasets, equally many questions, in the layout of ../shared's file."""
    tasks = load_tasks(path)
    assert len(tasks) == dev_questions(path) == 21
    assert sorted({t.dataset for t in tasks}) == ["2wiki", "bamboogle", "hotpotqa", "musique",
                                                  "nq", "popqa", "tq"]
    assert all(t.answers for t in tasks)
