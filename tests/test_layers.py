"""Layers point down: no module imports a package of a higher layer, lazy imports included."""

from __future__ import annotations

import ast
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "webresearch"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_lazy", "_home", "status", "untrusted", "safe_disk", "tasks", "net",
     "chat"),                                                  # basics
    ("web",),                                                  # the backend interface
    ("crawlers", "sim", "corpus", "replay"),                   # web backends, the store
    ("envs",),                                                 # the environment
    ("policies",),                                             # policies and their backends
    ("rollout",),                                              # runners, token assembly
    ("train",),                                                # GRPO loop, SFT
    ("distributed", "evaluation"),                             # Ray, the paper's tables
    ("cli", "integrations", "__init__", "__main__"),           # entry points, the facade
)
"""Each package's layer, lowest first. A package may import its own layer or lower ones."""

RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(path: Path) -> set[str]:
    """Every ``webresearch.*`` module a file imports when it runs, at the top or inside a
    function (imports for type checkers only are left out)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("webresearch."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("webresearch."):
                found.add(node.module)
            elif node.module == "webresearch":
                found.update(f"webresearch.{a.name}" for a in node.names)
    return found


def _package(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return parts[0]


def violations(root: Path = ROOT) -> list[str]:
    """``file -> module`` for every import of a higher layer, and each package cycle."""
    found, edges = [], defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        source = _package(path, root)
        for module in _imports(path):
            target = module.split(".")[1]
            if target == source:
                continue
            if source not in RANK or target not in RANK:
                found.append(f"{path.relative_to(root)}: unknown package {source} or {target}")
                continue
            edges[source].add(target)
            if RANK[target] > RANK[source]:
                found.append(f"{path.relative_to(root)} -> {module}")
    return found + [f"package cycle: {' -> '.join(c)}" for c in _cycles(edges)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*trail[trail.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_every_package_has_a_layer() -> None:
    packages = {_package(p, ROOT) for p in ROOT.rglob("*.py")}
    assert packages <= set(RANK), sorted(packages - set(RANK))


def test_layers_point_down() -> None:
    assert violations() == []


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_cycles(root: Path = ROOT) -> list[list[str]]:
    """Cycles among modules (a package's ``__init__`` facade left out: it re-exports)."""
    paths = {_module(p, root): p for p in root.rglob("*.py") if p.name != "__init__.py"}
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in paths.items():
        for module in _imports(path):
            if module in paths and module != name:
                edges[name].add(module)
    return _cycles(edges)


def test_no_module_imports_itself_in_a_cycle() -> None:
    assert module_cycles() == []


@pytest.mark.parametrize(("package", "line"), [
    ("net", "from webresearch.envs.web_research import WebResearchEnv"),
    ("envs", "    from webresearch.rollout import rollout  # lazy, inside a function"),
    ("replay", "import webresearch.train.loop"),
], ids=["top-level", "lazy", "plain-import"])
def test_a_planted_upward_import_fails(tmp_path: Path, package: str, line: str) -> None:
    (tmp_path / package).mkdir()
    (tmp_path / package / "planted.py").write_text(
        textwrap.dedent("def f():\n    pass\n") + ("\n" + line.strip() + "\n" if line.startswith(
            "from") or line.startswith("import") else f"\ndef g():\n{line}\n"),
        encoding="utf-8")
    (tmp_path / "envs").mkdir(exist_ok=True)
    found = violations(tmp_path)
    assert len(found) == 1 and "planted.py" in found[0], found


def test_a_package_cycle_fails(tmp_path: Path) -> None:
    for package, target in (("sim", "corpus"), ("corpus", "sim")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "m.py").write_text(f"import webresearch.{target}.m\n")
    assert any(v.startswith("package cycle: corpus -> sim -> corpus") for v in violations(tmp_path))
