"""KubePrometheusStack: the prometheus-operator CRDs and kube-prometheus-stack, two Helm
releases on the cluster, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_eks_v2 as eks
from constructs import Construct, IConstruct

from openmarket_cdk.config import MonitoringStackRelease
from openmarket_cdk.constructs.helm_timeouts import HELM_RELEASE_TIMEOUT

CRDS_CHART = "prometheus-operator-crds"
STACK_CHART = "kube-prometheus-stack"
# Helm leaves a resource with this annotation in place when its release is uninstalled.
KEEP_ON_UNINSTALL = {"helm.sh/resource-policy": "keep"}


class KubePrometheusStack(Construct):
    """The operator's CRDs as their own release (``prometheus-operator-crds``: CRDs as
    templates, so ``helm upgrade`` upgrades them with the chart; kept on uninstall, so
    removing the release never deletes every Prometheus, Alertmanager and rule with them),
    then kube-prometheus-stack with ``values`` (charts/monitoring/stack.py), in
    ``namespace`` (which exists: the monitoring charts make it).

    ``after`` is what the stack's pods need first: the secrets they mount, the Pod Identity
    association of Alertmanager. Objects of the operator's kinds must depend on ``release``
    (or at least ``crds``). Both releases are the cluster's children, like every other.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.Cluster,
        release: MonitoringStackRelease,
        namespace: str,
        values: Mapping[str, Any],
        after: Sequence[IConstruct],
    ) -> None:
        super().__init__(scope, construct_id)
        self.crds = cluster.add_helm_chart(
            "PrometheusOperatorCrds",
            chart=CRDS_CHART,
            repository=release.repository,
            version=release.crds_chart_version,
            release=release.crds_release_name,
            namespace=namespace,
            create_namespace=False,
            timeout=HELM_RELEASE_TIMEOUT,
            values={"crds": {"annotations": KEEP_ON_UNINSTALL}},
        )
        self.release = cluster.add_helm_chart(
            "KubePrometheusStack",
            chart=STACK_CHART,
            repository=release.repository,
            version=release.chart_version,
            release=release.release_name,
            namespace=namespace,
            create_namespace=False,
            # Until the operator, Grafana, kube-state-metrics and node-exporter are ready.
            wait=True,
            timeout=HELM_RELEASE_TIMEOUT,
            values=dict(values),
        )
        for prerequisite in after:
            self.crds.node.add_dependency(prerequisite)
        self.release.node.add_dependency(self.crds)
