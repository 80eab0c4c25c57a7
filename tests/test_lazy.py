"""``require``: an optional package that is missing or broken is a typed, installable error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from webresearch._lazy import require
from webresearch.errors import DependencyNotInstalled
from webresearch.policies.vllm import VLLMPolicy


def test_a_missing_package_names_the_extra_to_install() -> None:
    with pytest.raises(DependencyNotInstalled, match=r"actual: not installed.*\[corpus\]"):
        require("webresearch_no_such_module_here", "corpus")


def test_an_installed_package_that_fails_to_import_is_dependency_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "webresearch_broken_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import webresearch_missing_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "webresearch_broken_pkg", raising=False)
    with pytest.raises(DependencyNotInstalled) as caught:
        require("webresearch_broken_pkg", "train")
    message = str(caught.value)
    assert "installed but failed to import" in message
    assert "webresearch_missing_dependency_of_it" in message
    assert "[train]" in message
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_vllm_of_another_api_is_dependency_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / "__init__.py").write_text("AsyncLLMEngine = object\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    with pytest.raises(DependencyNotInstalled, match="a vllm without AsyncEngineArgs"):
        VLLMPolicy("model")
