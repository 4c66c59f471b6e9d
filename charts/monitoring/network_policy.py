"""Who may talk to whom in the monitoring namespaces: default deny, then the listed paths."""

from __future__ import annotations

from collections.abc import Sequence

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.labels import monitoring_labels, selector_labels
from charts.monitoring.stack import (
    ALERTMANAGER_PORT,
    COREDNS_METRICS_PORT,
    GRAFANA_PORT,
    KUBE_STATE_METRICS_PORT,
    KUBELET_PORT,
    NODE_EXPORTER_PORT,
    OPERATOR_PORT,
    PROMETHEUS_PORT,
    RELOADER_PORT,
    StackPods,
)
from charts.monitoring.values import MonitoringValues
from charts.network_policy import (
    ANY_IPV4,
    DNS_PORT,
    HTTPS_PORT,
    KUBE_DNS_LABELS,
    KUBE_SYSTEM,
    POD_IDENTITY_AGENT_CIDR,
    POD_IDENTITY_AGENT_PORT,
)

DENY = kplus.NetworkPolicyTrafficDefault.DENY


class MonitoringNetworkPolicyChart(cdk8s.Chart):
    """Deploys the NetworkPolicies of the monitoring stack, for the security reviewer.

    Both monitoring namespaces deny everything by default; then only these paths (the
    kube-prometheus-stack chart's own policies stay off: these cover every pod it runs):

    - Prometheus -> every scrape target: kubelets (:10250) and node-exporter (:9100) on the
      nodes' addresses, the API server, CoreDNS, kube-state-metrics, the operator,
      Alertmanager and its reloader, Grafana, and the backend in the app namespace (plus a
      policy there admitting it); -> Alertmanager (alerts); -> the Kubernetes API (service
      discovery).
    - Grafana -> Prometheus (queries) and the Kubernetes API (its sidecars read the
      dashboard and datasource ConfigMaps). Its UI is reached by ``kubectl port-forward``,
      which enters the pod through the kubelet, not the pod network: no ingress rule.
    - Alertmanager -> Slack and SNS: TCP 443 outside the VPC; the Pod Identity agent.
    - kube-state-metrics and the operator -> the Kubernetes API.
    - every pod -> kube-dns.

    The API server is reached through the ``kubernetes`` ClusterIP, which the VPC CNI policy
    agent sees before kube-proxy translates it, so the service range is allowed as well as
    the VPC (the control plane's ENIs). node-exporter runs on the host network, where
    NetworkPolicies do not apply; its namespace denies everything else.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        # Three namespaces: every policy names its own.
        super().__init__(
            scope,
            id,
            labels=monitoring_labels("network-policy"),
            disable_resource_name_hashes=True,
        )
        self._values = values
        monitoring = values.namespace
        for namespace in (monitoring, values.agents_namespace):
            self._default_deny_and_dns(namespace)

        pods = StackPods(values.release_name)
        prometheus = self._pods("prometheus", pods.prometheus)
        prometheus_elsewhere = self._pods("prometheus-remote", pods.prometheus, monitoring)
        alertmanager = self._pods("alertmanager", pods.alertmanager)
        grafana = self._pods("grafana", pods.grafana)
        kube_state_metrics = self._pods("kube-state-metrics", pods.kube_state_metrics)
        operator = self._pods("operator", pods.operator)
        kube_dns = self._pods("coredns-remote", KUBE_DNS_LABELS, KUBE_SYSTEM)
        backend = values.backend
        backend_remote = self._pods(
            "backend-remote", selector_labels(backend.service_name), values.app_namespace
        )
        vpc = self._cidr("vpc", values.vpc_cidr)

        self._policy(
            "prometheus",
            monitoring,
            prometheus,
            ingress=[_rule(grafana, PROMETHEUS_PORT)],
            egress=[
                # Service discovery, and the API server's own metrics.
                *self._kubernetes_api("prometheus"),
                _rule(vpc, KUBELET_PORT),
                _rule(vpc, NODE_EXPORTER_PORT),
                _rule(alertmanager, ALERTMANAGER_PORT, RELOADER_PORT),
                _rule(grafana, GRAFANA_PORT),
                _rule(kube_state_metrics, KUBE_STATE_METRICS_PORT),
                _rule(operator, OPERATOR_PORT),
                _rule(kube_dns, COREDNS_METRICS_PORT),
                _rule(backend_remote, backend.port),
            ],
        )
        outside_vpc = kplus.NetworkPolicyIpBlock.ipv4(self, "slack", ANY_IPV4, [values.vpc_cidr])
        self._policy(
            "alertmanager",
            monitoring,
            alertmanager,
            ingress=[_rule(prometheus, ALERTMANAGER_PORT, RELOADER_PORT)],
            egress=[
                # Slack's webhooks and SNS, outside the VPC.
                _rule(outside_vpc, HTTPS_PORT),
                # Its pod role's credentials (SNS publishes).
                _rule(
                    self._cidr("alertmanager-pod-identity-agent", POD_IDENTITY_AGENT_CIDR),
                    POD_IDENTITY_AGENT_PORT,
                ),
            ],
        )
        self._policy(
            "grafana",
            monitoring,
            grafana,
            ingress=[_rule(prometheus, GRAFANA_PORT)],
            # Through the Prometheus Service: this selector equals the Service's.
            egress=[_rule(prometheus, PROMETHEUS_PORT), *self._kubernetes_api("grafana")],
        )
        for name, selected, port in (
            ("kube-state-metrics", kube_state_metrics, KUBE_STATE_METRICS_PORT),
            ("prometheus-operator", operator, OPERATOR_PORT),
        ):
            self._policy(
                name,
                monitoring,
                selected,
                ingress=[_rule(prometheus, port)],
                egress=self._kubernetes_api(name),
            )
        # In the app namespace: admit Prometheus to the backend's metrics (additive to the
        # app's own policies there).
        self._policy(
            "allow-prometheus-scrape",
            values.app_namespace,
            kplus.Pods.select(self, "backend", labels=selector_labels(backend.service_name)),
            ingress=[_rule(prometheus_elsewhere, backend.port)],
        )

    def _default_deny_and_dns(self, namespace: str) -> None:
        all_pods = kplus.Pods.all(self, f"all-pods-{namespace}")
        kplus.NetworkPolicy(
            self,
            f"default-deny-{namespace}",
            metadata=cdk8s.ApiObjectMetadata(name="default-deny", namespace=namespace),
            selector=all_pods,
            ingress=kplus.NetworkPolicyTraffic(default=DENY),
            egress=kplus.NetworkPolicyTraffic(default=DENY),
        )
        kube_dns = kplus.Pods.select(
            self,
            f"kube-dns-{namespace}",
            labels=KUBE_DNS_LABELS,
            namespaces=kplus.Namespaces.select(
                self, f"kube-system-{namespace}", names=[KUBE_SYSTEM]
            ),
        )
        kplus.NetworkPolicy(
            self,
            f"allow-dns-{namespace}",
            metadata=cdk8s.ApiObjectMetadata(name="allow-dns", namespace=namespace),
            selector=all_pods,
            egress=kplus.NetworkPolicyTraffic(
                rules=[
                    kplus.NetworkPolicyRule(
                        peer=kube_dns,
                        ports=[kplus.NetworkPolicyPort.udp(DNS_PORT), _tcp(DNS_PORT)],
                    )
                ]
            ),
        )

    def _policy(
        self,
        name: str,
        namespace: str,
        selector: kplus.Pods,
        *,
        ingress: Sequence[kplus.NetworkPolicyRule] = (),
        egress: Sequence[kplus.NetworkPolicyRule] = (),
    ) -> kplus.NetworkPolicy:
        return kplus.NetworkPolicy(
            self,
            f"{namespace}-{name}",
            metadata=cdk8s.ApiObjectMetadata(name=name, namespace=namespace),
            selector=selector,
            ingress=kplus.NetworkPolicyTraffic(rules=list(ingress)) if ingress else None,
            egress=kplus.NetworkPolicyTraffic(rules=list(egress)) if egress else None,
        )

    def _pods(self, id: str, labels: dict[str, str], namespace: str | None = None) -> kplus.Pods:
        """The pods with ``labels``; in the policy's own namespace unless given."""
        if namespace is None:
            return kplus.Pods.select(self, f"{id}-pods", labels=labels)
        return kplus.Pods.select(
            self,
            f"{id}-pods",
            labels=labels,
            namespaces=kplus.Namespaces.select(self, f"{id}-namespace", names=[namespace]),
        )

    def _cidr(self, id: str, cidr: str) -> kplus.NetworkPolicyIpBlock:
        return kplus.NetworkPolicyIpBlock.ipv4(self, id, cidr)

    def _kubernetes_api(self, id: str) -> list[kplus.NetworkPolicyRule]:
        return [
            _rule(self._cidr(f"{id}-api-{index}", cidr), HTTPS_PORT)
            for index, cidr in enumerate((self._values.service_cidr, self._values.vpc_cidr))
        ]


def _tcp(port: int) -> kplus.NetworkPolicyPort:
    return kplus.NetworkPolicyPort.tcp(port)


def _rule(peer: kplus.INetworkPolicyPeer, *ports: int) -> kplus.NetworkPolicyRule:
    """Traffic to or from ``peer`` on these TCP ports."""
    return kplus.NetworkPolicyRule(peer=peer, ports=[_tcp(port) for port in ports])
