"""Nothing on disk is unpickled: no module under src/ opens a cache or file that could unpickle.

Each module's AST is scanned for calls (and subclasses) that unpickle what they read:
a plain diskcache (``Cache``, ``FanoutCache``, ``Index``, ``Deque``), ``pickle``/``dill``/
``cloudpickle``/``marshal`` loads, ``shelve``, ``joblib.load``, ``pandas.read_pickle``,
``torch.load`` without ``weights_only=True``, ``numpy.load`` with ``allow_pickle`` not
``False``, and yaml's unsafe loaders. Names are resolved through the module's imports
(``import numpy as np``, ``from diskcache import Cache``). Only the safe opener,
``webresearch/safe_disk.py``, may build a diskcache itself.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
SAFE_OPENER = "webresearch/safe_disk.py"

_DISKCACHE = {f"diskcache.{name}" for name in (
    "Cache", "FanoutCache", "Index", "Deque", "DjangoCache", "core.Cache", "fanout.FanoutCache",
    "persistent.Index", "persistent.Deque", "djangocache.DjangoCache")}
_ALWAYS = _DISKCACHE | {f"{module}.{name}" for module in ("pickle", "_pickle", "cPickle", "dill",
                                                        "cloudpickle", "marshal")
                        for name in ("load", "loads", "Unpickler")} | {
    "shelve.open", "shelve.Shelf", "shelve.DbfilenameShelf", "shelve.BsdDbShelf",
    "joblib.load", "pandas.read_pickle", "jsonpickle.decode", "yaml.unsafe_load",
    "yaml.full_load", "yaml.unsafe_load_all", "numpy.lib.format.read_array"}


_ABSENT = object()


def _constant(call: ast.Call, keyword: str) -> object:
    """The constant value of ``keyword`` in ``call``: ``_ABSENT`` when not given, ``...``
    when not a constant (or ``**``-passed)."""
    if any(kw.arg is None for kw in call.keywords):
        return ...
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value.value if isinstance(kw.value, ast.Constant) else ...
    return _ABSENT


def _unsafe_yaml(call: ast.Call, resolve: Callable[[ast.expr], str]) -> bool:
    loader = next((kw.value for kw in call.keywords if kw.arg == "Loader"), None)
    if loader is None and len(call.args) > 1:
        loader = call.args[1]
    return loader is None or not resolve(loader).endswith(("SafeLoader", "CSafeLoader"))


def _why(name: str, call: ast.Call, resolve: Callable[[ast.expr], str]) -> str | None:
    """Why calling ``name`` (resolved) may unpickle, or ``None``."""
    if name in _ALWAYS:
        return f"{name} unpickles what it reads"
    if name == "torch.load" and _constant(call, "weights_only") is not True:
        return "torch.load without weights_only=True unpickles"
    if name == "numpy.load" and _constant(call, "allow_pickle") not in (False, _ABSENT):
        return "numpy.load with allow_pickle unpickles"
    if name in ("yaml.load", "yaml.load_all") and _unsafe_yaml(call, resolve):
        return f"{name} without a SafeLoader builds objects"
    return None


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local names bound by the module's imports (anywhere in it), to what they name."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                names[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _resolver(names: dict[str, str]) -> Callable[[ast.expr], str]:
    aliases = {"np": "numpy", "pd": "pandas", **names}

    def resolve(node: ast.expr) -> str:
        if isinstance(node, ast.Name):
            return aliases.get(node.id, node.id)  # ``torch = self.torch`` is still torch
        if isinstance(node, ast.Attribute):
            base = resolve(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    return resolve


def findings(source: str, filename: str = "<snippet>") -> list[str]:
    """Every call or subclass in ``source`` that could unpickle, as ``file:line: why``."""
    tree = ast.parse(source, filename)
    resolve = _resolver(_aliases(tree))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            why = _why(resolve(node.func), node, resolve)
        elif isinstance(node, ast.ClassDef):
            bases = [resolve(base) for base in node.bases]
            why = next((f"subclasses {b}, which unpickles" for b in bases if b in _DISKCACHE),
                       None)
        else:
            continue
        if why is not None:
            found.append(f"{filename}:{node.lineno}: {why}")
    return found


def _modules() -> Iterator[Path]:
    yield from sorted(SRC.rglob("*.py"))


def test_no_module_under_src_could_unpickle() -> None:
    modules = list(_modules())
    assert len(modules) > 50  # the scan sees the package
    found = [finding for path in modules
             if (relative := path.relative_to(SRC).as_posix()) != SAFE_OPENER
             for finding in findings(path.read_text(encoding="utf-8"), relative)]
    assert found == []


def test_the_safe_opener_builds_its_cache_on_the_never_unpickling_disk() -> None:
    source = (SRC / SAFE_OPENER).read_text(encoding="utf-8")
    assert "disk: type[SafeDisk] = SafeDisk" in source
    assert [f for f in findings(source) if "subclasses" not in f] == []


UNSAFE = {
    "plain-cache": "import diskcache\ndiskcache.Cache('d')",
    "from-import": "from diskcache import FanoutCache as F\nF('d')",
    "index": "import diskcache\nx = diskcache.Index('d')",
    "deque": "from diskcache import Deque\nDeque(directory='d')",
    "lazy-import": "def f():\n    import diskcache\n    return diskcache.core.Cache('d')",
    "subclass": "import diskcache\nclass C(diskcache.Cache):\n    pass",
    "pickle-loads": "import pickle\npickle.loads(b'')",
    "pickle-alias": "import pickle as p\np.load(open('f', 'rb'))",
    "from-pickle": "from pickle import loads\nloads(b'')",
    "unpickler": "import pickle\npickle.Unpickler(f).load()",
    "dill": "import dill\ndill.load(f)",
    "cloudpickle": "import cloudpickle\ncloudpickle.loads(b'')",
    "marshal": "import marshal\nmarshal.loads(b'')",
    "shelve": "import shelve\nshelve.open('db')",
    "joblib": "import joblib\njoblib.load('f')",
    "pandas": "import pandas as pd\npd.read_pickle('f')",
    "torch-default": "import torch\ntorch.load('f')",
    "torch-false": "torch = self.torch\ntorch.load('f', weights_only=False)",
    "torch-variable": "import torch\ntorch.load('f', weights_only=flag)",
    "numpy-pickle": "import numpy as np\nnp.load('f', allow_pickle=True)",
    "numpy-variable": "import numpy\nnumpy.load('f', allow_pickle=flag)",
    "yaml-load": "import yaml\nyaml.load(text)",
    "yaml-full": "import yaml\nyaml.load(text, Loader=yaml.FullLoader)",
    "yaml-unsafe": "import yaml\nyaml.unsafe_load(text)",
}

SAFE = {
    "open-cache": "from webresearch.safe_disk import open_cache\nopen_cache('d', timeout_s=1)",
    "torch-weights": "import torch\ntorch.load('f', weights_only=True)",
    "numpy-default": "import numpy as np\nnp.load('f', mmap_mode='r')",
    "numpy-false": "import numpy as np\nnp.load('f', allow_pickle=False)",
    "json": "import json\njson.loads('{}')",
    "yaml-safe": "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
    "other-load": "import tomllib\ntomllib.load(f)",
    "dumps": "import pickle\npickle.dumps(1)",
}


@pytest.mark.parametrize("source", UNSAFE.values(), ids=UNSAFE.keys())
def test_the_scan_finds_every_unpickling_call(source: str) -> None:
    assert len(findings(source)) == 1


@pytest.mark.parametrize("source", SAFE.values(), ids=SAFE.keys())
def test_the_scan_passes_what_cannot_unpickle(source: str) -> None:
    assert findings(source) == []
