"""Evaluation: DeepResearcher's tables (F1, EM, and a model-based judge) from one command."""

from __future__ import annotations

from webresearch.evaluation.frozen import VerdictNotRecorded
from webresearch.evaluation.judge import Judge, JudgeError, Judgement, OpenAIJudge
from webresearch.evaluation.run import EvalReport, evaluate, rescore
from webresearch.evaluation.tables import DOMAINS, Scored, domain_tables, score, to_markdown

__all__ = ["DOMAINS", "EvalReport", "Judge", "JudgeError", "Judgement", "OpenAIJudge", "Scored",
           "VerdictNotRecorded", "domain_tables", "evaluate", "rescore", "score", "to_markdown"]
