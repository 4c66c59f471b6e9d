"""OrderedChartDeployment: applies a stage's cdk8s charts to the cluster, one after another."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cdk8s
from aws_cdk import aws_eks_v2 as eks
from constructs import Construct, IConstruct


class OrderedChartDeployment(Construct):
    """Each chart becomes one ``KubernetesManifest`` (the cluster's child ``Chart-<kind>``,
    applied with ``kubectl apply --prune``), and waits for the chart before it, so the
    namespace exists before what lives in it and CRD-backed objects come after their
    controllers (``first_after``). ``also_after`` adds per-chart prerequisites: the
    credentials (Pod Identity associations) of the pods a chart starts, the controller a chart
    needs, a log group a chart writes to.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        charts: Mapping[str, cdk8s.Chart],
        first_after: Sequence[IConstruct],
        also_after: Mapping[str, Sequence[IConstruct]],
    ) -> None:
        super().__init__(scope, construct_id)
        unknown = set(also_after) - set(charts)
        if unknown:
            raise ValueError(f"prerequisites for charts that do not exist: {sorted(unknown)}")
        self.manifests: dict[str, eks.KubernetesManifest] = {}
        previous: Sequence[IConstruct] = first_after
        for kind, chart in charts.items():
            manifest = cluster.add_cdk8s_chart(
                f"Chart-{kind}", chart, ingress_alb=False, prune=True
            )
            manifest.node.add_dependency(*previous)
            for prerequisite in also_after.get(kind, ()):
                manifest.node.add_dependency(prerequisite)
            self.manifests[kind] = manifest
            previous = (manifest,)
