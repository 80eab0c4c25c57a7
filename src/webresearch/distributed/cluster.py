"""Starting or joining Ray: a local instance bound to loopback, or a cluster by address."""

from __future__ import annotations

import logging
import os
from typing import Any

from webresearch._lazy import require
from webresearch.distributed.guardian import announce, guard

__all__ = ["NAMESPACE", "cluster_address", "init_ray", "loopback_only", "node_id",
           "require_ray", "session_dir"]

logger = logging.getLogger(__name__)

_SINGLE_NODE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

NAMESPACE = "webresearch"
"""The Ray namespace of this library's named actors."""


def require_ray() -> Any:
    """Import and return ``ray``, or say which extra installs it."""
    return require("ray", "ray")


def node_id() -> str:
    """The id of the Ray node this process runs on (a driver's, a worker's)."""
    return str(require_ray().get_runtime_context().get_node_id())


def cluster_address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``RAY_ADDRESS``; ``None``: start a local Ray.

    Example:
        >>> cluster_address("127.0.0.1:6379")
        '127.0.0.1:6379'
    """
    return address or os.environ.get("RAY_ADDRESS") or None


def session_dir() -> str:
    """The directory of the Ray session this process is connected to (its logs, sockets)."""
    from ray._private import worker  # noqa: PLC0415 - no public accessor exists

    node: Any = worker._global_node  # typed Optional by Ray
    return str(node.get_session_dir_path())


def loopback_only() -> None:
    """Keep a local Ray on 127.0.0.1: Ray binds to the machine's network address unless
    told the cluster is single-node (read at import in this process, from the
    environment in the processes it starts)."""
    os.environ[_SINGLE_NODE] = "0"
    from ray._private import ray_constants  # noqa: PLC0415 - no public switch exists

    ray_constants.ENABLE_RAY_CLUSTER = False


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connect to Ray once per process and return the module.

    Args:
        address: A cluster's address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``);
            ``None`` joins the cluster named by ``RAY_ADDRESS`` if set, else starts a
            new local instance (never one that happens to run on this machine) whose
            every server listens on 127.0.0.1 only and whose every process ends when
            this one does, even killed (:mod:`~webresearch.distributed.guardian`).
        num_cpus: CPUs of a local instance (all by default).
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = cluster_address(address)
    if address is None:
        loopback_only()
        mark, token = guard()  # what this starts ends with this process, however it ends
        os.environ[mark] = token
        try:
            ray.init(address="local", num_cpus=num_cpus, namespace=NAMESPACE,
                     include_dashboard=False, configure_logging=False, log_to_driver=True)
        finally:
            del os.environ[mark]
        announce(session_dir())
    else:
        ray.init(address=address, namespace=NAMESPACE, configure_logging=False)
    logger.info("Ray ready: %s", ray.cluster_resources())
    return ray
