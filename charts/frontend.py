"""The OpenMarket web frontend (Next.js) on EKS."""

from __future__ import annotations

from constructs import Construct

from charts.values import WorkloadValues
from charts.workload import WebWorkloadChart


class FrontendChart(WebWorkloadChart):
    """Deploys the web frontend that the ALB's catch-all route serves to shoppers.

    For the app team: a ``WebWorkload`` (Deployment, ConfigMap, Service, HPA, PDB,
    ServiceAccount). It calls no AWS API; server-side rendering reaches the backend through
    its ClusterIP Service.
    """

    def __init__(self, scope: Construct, id: str, values: WorkloadValues) -> None:
        super().__init__(scope, id, values)
