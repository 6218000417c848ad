"""Clusters for distributed gates: one interface (:class:`Cluster`), an EC2 backend, local backends.

Importing this package starts nothing and imports neither boto3 nor Locust;
the backends are imported on use.
"""

from typing import TYPE_CHECKING

from perfgate.cluster.base import (
    Cluster,
    ClusterHandle,
    ClusterPlan,
    InfraSettings,
    Node,
    PlanRow,
    Reaped,
    RunStatus,
    load_settings,
)

__all__ = [
    "Cluster",
    "ClusterHandle",
    "ClusterPlan",
    "InfraSettings",
    "Node",
    "PlanRow",
    "Reaped",
    "RunStatus",
    "load_settings",
    "run_gate_on_cluster",
]


if TYPE_CHECKING:
    from perfgate.cluster.remote import run_gate_on_cluster
else:

    def run_gate_on_cluster(*args, **kwargs):
        """See :func:`perfgate.cluster.remote.run_gate_on_cluster`."""
        from perfgate.cluster.remote import run_gate_on_cluster as run

        return run(*args, **kwargs)
