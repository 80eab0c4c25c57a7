"""``webresearch-v0``: the name verifiers loads ``WebResearch-v0`` by (``vf-eval webresearch-v0``).

verifiers imports a taskset id's module (dashes to underscores) and takes the
``Taskset``, ``Env`` and ``Harness`` it exports; the classes live in
:mod:`webresearch.integrations.verifiers`.
"""

from __future__ import annotations

from webresearch.integrations.verifiers import (
    WebResearchHarness,
    WebResearchTaskset,
    WebResearchVerifiersEnv,
)

__all__ = ["WebResearchHarness", "WebResearchTaskset", "WebResearchVerifiersEnv"]
