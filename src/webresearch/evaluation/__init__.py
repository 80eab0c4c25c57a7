"""Evaluation: DeepResearcher's tables (F1, EM, and a model-based judge) from one command."""

from __future__ import annotations

from webresearch.evaluation.judge import Judge, JudgeError, Judgement, OpenAIJudge
from webresearch.evaluation.run import EvalReport, evaluate
from webresearch.evaluation.tables import DOMAINS, Scored, domain_tables, score, to_markdown

__all__ = ["DOMAINS", "EvalReport", "Judge", "JudgeError", "Judgement", "OpenAIJudge", "Scored",
           "domain_tables", "evaluate", "score", "to_markdown"]
