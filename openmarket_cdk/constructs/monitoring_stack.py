"""KubePrometheusStack: the prometheus-operator CRDs and kube-prometheus-stack, two Helm
releases on the cluster, in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from charts.monitoring import AFTER_STACK_RELEASE, BEFORE_STACK_RELEASE
from openmarket_cdk.config import MonitoringStackRelease, StageConfig
from openmarket_cdk.constructs.chart_deployment import OrderedChartDeployment
from openmarket_cdk.constructs.helm_timeouts import HELM_RELEASE_TIMEOUT
from openmarket_cdk.constructs.pod_identity import PodIdentity

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

    It goes between the stage's monitoring charts (``charts``): after the secret sync its
    pods mount (and Alertmanager's Pod Identity ``association``), before OpenMarket's rules,
    scrape target and dashboard (objects of the operator's kinds). Both releases are the
    cluster's children, like every other.
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
        charts: OrderedChartDeployment,
        association: IConstruct,
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
        self.crds.node.add_dependency(charts.manifests[BEFORE_STACK_RELEASE], association)
        self.release.node.add_dependency(self.crds)
        charts.manifests[AFTER_STACK_RELEASE].node.add_dependency(self.release)


def alertmanager_access(stack: Stack, config: StageConfig, cluster: eks.ICluster) -> PodIdentity:
    """Alertmanager's pod role (``AlertmanagerAccess``, the stack's child): it publishes the
    heartbeat and delivery failures to SNS (topics of the observability stack, named in
    config), outside the cluster they watch."""
    monitoring = config.kubernetes.monitoring
    access = PodIdentity(
        stack,
        "AlertmanagerAccess",
        cluster=cluster,
        namespace=monitoring.namespace,
        service_account=monitoring.alertmanager.service_account,
        description=f"{config.names.prefix}: pod role of Alertmanager",
    )
    access.role.add_to_policy(
        iam.PolicyStatement(
            actions=["sns:Publish"],
            resources=[
                config.names.sns_topic_arn(config.names.alerting_heartbeat_topic_name),
                config.names.sns_topic_arn(config.names.alert_delivery_failures_topic_name),
            ],
        )
    )
    return access
