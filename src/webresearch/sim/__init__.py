"""The embedded simulated web: a generated encyclopedia, its search engine and its tasks."""

from __future__ import annotations

from webresearch.sim.search import BM25Index, Document
from webresearch.sim.sim_web import SimSite, SimWeb, SimWebConfig
from webresearch.sim.tasks import generate_tasks
from webresearch.sim.world import Entity, World, WorldConfig

__all__ = ["BM25Index", "Document", "Entity", "SimSite", "SimWeb", "SimWebConfig", "World",
           "WorldConfig", "generate_tasks"]
