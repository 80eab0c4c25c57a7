"""Rollouts on Ray: worker actors, a shared policy, one rate authority, one store writer.

Importing this package does not import Ray; ``pip install -e '.[ray]'`` for it.
"""

from __future__ import annotations

from webresearch.distributed.cluster import NAMESPACE, init_ray
from webresearch.distributed.local_cluster import LocalCluster
from webresearch.distributed.runner import RayConfig, RayRunner, ray_rollout
from webresearch.distributed.services import (
    AuthorityServer,
    PolicyServer,
    RayAuthority,
    RemotePolicy,
    StoreServer,
)
from webresearch.distributed.worker import RolloutWorker

__all__ = [
    "NAMESPACE",
    "AuthorityServer",
    "LocalCluster",
    "PolicyServer",
    "RayAuthority",
    "RayConfig",
    "RayRunner",
    "RemotePolicy",
    "RolloutWorker",
    "StoreServer",
    "init_ray",
    "ray_rollout",
]
