"""The package surface: light import, a complete facade, typed, documented."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import webresearch

HEAVY = ("torch", "ray", "vllm", "transformers", "bs4")


def test_import_is_light() -> None:
    code = ("import sys, webresearch; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_facade_is_complete() -> None:
    for name in webresearch.__all__:
        assert getattr(webresearch, name) is not None, name
    assert webresearch.SimWeb.__module__ == "webresearch.sim.sim_web"


def test_the_facade_holds_every_name_the_readme_imports_and_nothing_private() -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"\bwebresearch\.([A-Za-z_]\w*)\b", readme))
    for imported in re.findall(r"from webresearch import ([\w, ()\n]+)", readme):
        used |= set(re.findall(r"\w+", imported))
    packages = {info.name for info in pkgutil.iter_modules(webresearch.__path__)}
    missing = sorted(n for n in used - packages if not hasattr(webresearch, n))
    assert missing == [], missing
    for info in pkgutil.walk_packages(webresearch.__path__, "webresearch."):
        module = importlib.import_module(info.name)
        private = [n for n in module.__all__ if n.startswith("_") and n != "__version__"]
        assert private == [], (info.name, private)
    assert [n for n in webresearch.__all__ if n.startswith("_")] == ["__version__"]


def test_every_module_declares_all_and_a_docstring() -> None:
    for info in pkgutil.walk_packages(webresearch.__path__, "webresearch."):
        module = importlib.import_module(info.name)
        assert module.__doc__ and module.__doc__.strip(), info.name
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"{info.name}.{name}"


def test_errors_form_one_tree() -> None:
    from webresearch import errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.WebResearchError), name


def test_a_folder_named_webresearch_beside_python_does_not_shadow_the_package(
        tmp_path: Path) -> None:
    """Python started above a clone named ``webresearch`` imports the installed package,
    not the clone's folder as an empty namespace package (the env would not register)."""
    clone = tmp_path / "webresearch"
    for part in ("src", "tests", "examples"):
        (clone / part).mkdir(parents=True)
    (clone / "setup.cfg").touch()
    code = ("import gymnasium as gym, webresearch; print(webresearch.__file__); "
            "print(gym.spec('WebResearch-v0').id)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    package_file, env_id = out.stdout.split()
    assert Path(package_file).name == "__init__.py" and env_id == "WebResearch-v0"
