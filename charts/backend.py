"""The OpenMarket API (NestJS) on EKS."""

from __future__ import annotations

from constructs import Construct

from charts.values import WorkloadValues
from charts.workload import WebWorkloadChart


class BackendChart(WebWorkloadChart):
    """Deploys the backend REST API that the frontend and the ALB's ``/api`` route call.

    For the app team: a ``WebWorkload`` (Deployment, ConfigMap, Service, HPA, PDB,
    ServiceAccount) whose database and cache credentials come from Secrets that External
    Secrets syncs from AWS Secrets Manager. Its ServiceAccount is the one the cluster stack
    binds to the uploads-bucket IAM role through EKS Pod Identity.
    """

    def __init__(self, scope: Construct, id: str, values: WorkloadValues) -> None:
        super().__init__(scope, id, values)
