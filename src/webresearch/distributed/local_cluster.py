"""A Ray cluster of several nodes on this one machine, on loopback: for tests and benchmarks.

Each node is a raylet of its own with its own resources, started the way Ray's own
tests start them (``ray.cluster_utils.Cluster``); a removed node loses its raylet and
every process on it, as a machine that dies would. The processes it starts carry
this process's mark (:mod:`~webresearch.distributed.guardian`), so a test or
benchmark killed half way leaves none of them behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from webresearch.distributed.cluster import NAMESPACE, loopback_only, require_ray
from webresearch.distributed.guardian import announce, guard
from webresearch.web.closing import Closing

__all__ = ["LocalCluster"]

_FAST_HEALTH = {"health_check_period_ms": 1000, "health_check_failure_threshold": 5,
                "health_check_initial_delay_ms": 0}
"""A node that stops answering is dead after ~5 s (Ray's default: ~30 s)."""


@contextmanager
def _marked() -> Iterator[None]:
    mark, token = guard()
    os.environ[mark] = token
    try:
        yield
    finally:
        del os.environ[mark]


class LocalCluster(Closing):
    """A head node and worker nodes, each a raylet on 127.0.0.1, this process its driver.

    Args:
        head_cpus: CPUs of the head node (the driver's node).
        head_resources: Custom resources of the head node.
        object_store_mb: Each node's object store.

    Use as a context manager: it connects this process (``ray.init``) on entry and
    removes every node on exit.
    """

    def __init__(self, *, head_cpus: int = 1, head_resources: Mapping[str, float] | None = None,
                 object_store_mb: int = 100) -> None:
        require_ray()
        loopback_only()
        from ray.cluster_utils import Cluster  # noqa: PLC0415 - Ray is optional

        self.object_store = object_store_mb * 2**20
        with _marked():
            self.cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": head_cpus, "resources": dict(head_resources or {}),
                "include_dashboard": False, "object_store_memory": self.object_store,
                "_system_config": _FAST_HEALTH})
        self.head: Any = cast(Any, self.cluster.head_node)  # typed None by Ray
        announce(self.head.get_session_dir_path())  # the worker nodes share its session

    @property
    def address(self) -> str:
        """The GCS address (``127.0.0.1:port``) that ``RayConfig(address=...)`` takes."""
        return str(self.cluster.address)

    def add_node(self, *, num_cpus: int = 1, resources: Mapping[str, float] | None = None
                 ) -> Any:
        """Start a worker node and wait until the cluster lists it; return it."""
        with _marked():
            return self.cluster.add_node(num_cpus=num_cpus, resources=dict(resources or {}),
                                         object_store_memory=self.object_store)

    def remove_node(self, node: Any, *, graceful: bool = False) -> None:
        """Kill ``node``'s raylet and every process on it (SIGKILL unless ``graceful``)."""
        self.cluster.remove_node(node, allow_graceful=graceful)

    @staticmethod
    def node_id(node: Any) -> str:
        """The Ray node id of ``node`` (what ``node_id()`` says inside its processes)."""
        return str(node.node_id)

    def connect(self) -> Any:
        """Connect this process to the cluster (once) and return ``ray``."""
        ray = require_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, namespace=NAMESPACE, configure_logging=False)
        return ray

    def shutdown(self) -> None:
        """Disconnect and remove every node; idempotent."""
        ray = require_ray()
        if ray.is_initialized():
            ray.shutdown()
        self.cluster.shutdown()  # type: ignore[no-untyped-call]

    close = shutdown

    def __enter__(self) -> LocalCluster:
        try:
            self.connect()
        except BaseException:
            self.shutdown()
            raise
        return self
