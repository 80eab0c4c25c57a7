"""The docs site: every Python block of the README and ``docs/`` runs, and the site is whole.

Each page's ```` ```python ```` blocks run in order in one fresh interpreter (a block sees
the names of the blocks before it, as a reader who pastes them would), from a sandbox
that looks like a clone after the Quickstart (``tests/test_readme.py``), with
``questions.jsonl`` a small task file. A block runs as written unless ``BLOCKS`` names
it (by page and first line) with another check:

- ``imports``: it needs what a test cannot have (a model and a trainer's minutes, a
  cluster): its ``webresearch`` imports run, the rest only compiles;
- ``served``: it runs with ``serve-web`` standing in for the host it names (the strings
  of ``replace`` swapped), and its output must hold ``expect``.

``mkdocs build --strict`` itself runs in ``.ci/test``; here the nav, the API pages and the
wording are checked.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DEV_SAMPLE, PYTHONPATH
from tests.test_readme import PAGES, README, ROOT, sandbox  # noqa: F401 - the fixture

DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Block:
    """How one Python block is checked, when it is not simply run."""

    kind: str
    """imports or served."""
    replace: dict[str, str] = field(default_factory=dict)
    """For served: each key swapped for its value ({url}: the server's root)."""
    expect: str = ""
    """For served: text the block's output must hold."""


BLOCKS: dict[str, Block] = {
    "docs/integrations/trl.md::from trl import GRPOConfig, GRPOTrainer": Block("imports"),
    "docs/web/live.md::from webresearch.crawlers.live import LiveWeb, LiveWebConfig": Block(
        "served", {"http://192.168.1.20:8888": "{url}/searxng", '"192.168.1.20"': '"127.0.0.1"'},
        expect="Pogre Works"),
}
"""Blocks that are not run as written, by ``page::first line that is not an import of
gymnasium`` (their first distinctive line)."""


# ------------------------------------------------------------------ extraction
def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"),
                      re.DOTALL | re.MULTILINE)


def block_key(page: Path, block: str) -> str:
    lines = [line for line in block.splitlines()
             if line.strip() and line.strip() != "import gymnasium as gym"]
    return f"{page.relative_to(ROOT)}::{lines[0]}"


def imports_only(block: str) -> str:
    """The block's ``webresearch`` imports (the rest needs a model, a trainer or a cluster)."""
    tree = ast.parse(block)
    kept = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
            and "webresearch" in ast.unparse(node)]
    return "\n".join(ast.unparse(node) for node in kept)


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page)]


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def docs_root(sandbox: Path) -> Path:  # noqa: F811 - the fixture imported above
    shutil.copy(DEV_SAMPLE, sandbox / "questions.jsonl")
    return sandbox


@pytest.fixture(scope="module")
def served_url(docs_root: Path) -> Iterator[str]:
    """``webresearch serve-web`` on a free loopback port, for the blocks that need a host."""
    server = subprocess.Popen(
        [sys.executable, "-m", "webresearch.cli", "serve-web", "--port", "0"], cwd=docs_root,
        env={**os.environ, "PYTHONPATH": PYTHONPATH}, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # blocks until it listens (or exits)
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert found, f"serve-web printed {first!r}"
        yield found.group(0)
    finally:
        server.kill()
        server.wait(timeout=60)
        if server.stdout is not None:
            server.stdout.close()


def program(page: Path, url: str | None) -> str:
    """The page's blocks as one program, each after the checks ``BLOCKS`` asks for."""
    parts = []
    for block in python_blocks(page):
        check = BLOCKS.get(block_key(page, block))
        if check is None:
            parts.append(block)
        elif check.kind == "imports":
            compile(block, block_key(page, block), "exec")
            parts.append(imports_only(block))
        else:
            assert url is not None
            parts.append(swapped(block, check.replace, url))
    return "\n\n".join(parts)


def swapped(block: str, replace: dict[str, str], url: str) -> str:
    """The block with each host it names swapped for the served one."""
    for old, new in replace.items():
        assert old in block, old
        block = block.replace(old, new.format(url=url))
    return block


# ------------------------------------------------------------------ the checks
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page: Path, request: pytest.FixtureRequest) -> None:
    root: Path = request.getfixturevalue("docs_root")
    keys = [block_key(page, block) for block in python_blocks(page)]
    served = [BLOCKS[key] for key in keys if key in BLOCKS and BLOCKS[key].kind == "served"]
    url = request.getfixturevalue("served_url") if served else None
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1",
           "WEBRESEARCH_CACHE_DIR": str(root / "cache"),
           "SERPER_API_KEY": "test-key", "BRAVE_API_KEY": "test-key"}
    done = subprocess.run([sys.executable, "-c", program(page, url)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{page}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    for check in served:
        assert check.expect in done.stdout, done.stdout[-2000:]


def test_every_block_check_names_a_block() -> None:
    keys = {block_key(page, block) for page in PAGES for block in python_blocks(page)}
    assert [key for key in BLOCKS if key not in keys] == []


def nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return re.findall(r"^\s*- (?:[^:\n]+: )?([\w/.-]+\.md)$", text[text.index("\nnav:"):],
                      re.MULTILINE)


def test_the_nav_holds_every_page_once() -> None:
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(nav_pages()) == pages


def test_every_public_package_has_an_api_page() -> None:
    documented = set(re.findall(r"^::: (webresearch[\w.]*)$", "\n".join(
        p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("*.md")), re.MULTILINE))
    packages = {p.parent.name for p in (ROOT / "src" / "webresearch").glob("*/__init__.py")}
    missing = [name for name in sorted(packages - {"cli"})
               if not any(d == f"webresearch.{name}" or d.startswith(f"webresearch.{name}.")
                          for d in documented)]
    assert missing == []


DEVELOPMENT_TALK = re.compile(
    r"the issue|issue's|this project's|can no longer be rerun|\b(?:this|a later|the next) "
    r"session\b|\bhelpers? (?:session|work)|the lead (?:will|fills)|\bCEO\b|our target"
    r"|we aimed", re.IGNORECASE)
"""Words that speak of how the library is made (its issues, its machines, who works on
it), not of what it does."""


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_speak_of_the_library_not_of_its_development(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert [m.group(0) for m in DEVELOPMENT_TALK.finditer(text)] == []


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    links = set(re.findall(r"\]\((docs/[^)#]+)", "\n".join(lines)))
    assert links and all((ROOT / link).is_file() for link in links)


def test_ci_builds_the_site_strictly_outside_the_repository() -> None:
    test = (ROOT / ".ci" / "test").read_text(encoding="utf-8")
    build = next(line for line in test.splitlines() if "mkdocs build" in line)
    assert "--strict" in build and "--site-dir" in build
    assert test.index("mkdocs build") < test.index(".venv/bin/python -m pytest")
    assert "bash .ci/install-check" in test


def resolves(name: str) -> bool:
    """Whether a dotted ``webresearch...`` name is a module or an attribute of one."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def imported_names(text: str) -> set[str]:
    """``webresearch.x.Y`` for each ``from webresearch.x import Y`` in ``text``.

    Example:
        >>> sorted(imported_names("from webresearch import (A, B as C)"))
        ['webresearch.A', 'webresearch.B']
    """
    found = set()
    for module, names in re.findall(r"from (webresearch[\w.]*) import (\([^)]*\)|[\w, ]+)",
                                    text):
        plain = re.sub(r"\s+as\s+\w+", "", names)
        found |= {f"{module}.{name}" for name in re.findall(r"\w+", plain)}
    return found


def test_every_name_the_pages_give_exists() -> None:
    """``webresearch.x.Y``, and ``Y`` of ``from webresearch.x import Y``, in a page's code
    spans and blocks names a real module or object (the facade holds what they import
    from it)."""
    texts = [page.read_text(encoding="utf-8") for page in PAGES]
    names = {name for text in texts
             for name in re.findall(r"\b(webresearch(?:\.[A-Za-z_]\w*)+)", text)}
    names |= {name for text in texts for name in imported_names(text)}
    assert len(names) > 40
    assert sorted(name for name in names if not resolves(name)) == []
