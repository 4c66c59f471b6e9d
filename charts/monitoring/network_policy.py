"""Who may talk to whom in the monitoring namespaces: default deny, then the listed paths."""

from __future__ import annotations

from collections.abc import Sequence

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.labels import selector_labels
from charts.monitoring.common import monitoring_labels
from charts.monitoring.exporters import KSM_NAME, KSM_PORT
from charts.monitoring.prometheus import (
    ALERTMANAGER,
    FLUENT_BIT,
    GRAFANA,
    KUBELET_PORT,
    NODE_EXPORTER_PORT,
)
from charts.monitoring.prometheus import NAME as PROMETHEUS
from charts.monitoring.prometheus import PORT as PROMETHEUS_PORT
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

    Both monitoring namespaces deny everything by default; then only these paths:

    - Prometheus -> every scrape target: kubelets (:10250) and node-exporter (:9100) on the
      nodes' addresses, kube-state-metrics, Alertmanager, Grafana, Fluent Bit, and the
      backend in the app namespace (plus a policy there admitting it); -> Alertmanager
      (alerts); -> the Kubernetes API (service discovery).
    - Grafana -> Prometheus (queries). Its UI is reached by ``kubectl port-forward``, which
      enters the pod through the kubelet, not the pod network: no ingress rule.
    - Alertmanager -> Slack and SNS: TCP 443 outside the VPC; the Pod Identity agent.
    - kube-state-metrics -> the Kubernetes API.
    - Fluent Bit -> CloudWatch Logs and the Kubernetes API (TCP 443), and the EKS Pod
      Identity agent for its credentials.
    - every pod -> kube-dns.

    The API server is reached through the ``kubernetes`` ClusterIP, which the VPC CNI policy
    agent sees before kube-proxy translates it, so the service range is allowed as well as
    the VPC (the control plane's ENIs). node-exporter runs on the host network, where
    NetworkPolicies do not apply.
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
        monitoring, agents = values.namespace, values.agents_namespace
        for namespace in (monitoring, agents):
            self._default_deny_and_dns(namespace)

        prometheus = self._pods("prometheus", PROMETHEUS)
        prometheus_elsewhere = self._pods("prometheus-remote", PROMETHEUS, monitoring)
        alertmanager = self._pods("alertmanager", ALERTMANAGER[0])
        grafana = self._pods("grafana", GRAFANA[0])
        kube_state_metrics = self._pods("kube-state-metrics", KSM_NAME)
        fluent_bit = self._pods("fluent-bit", FLUENT_BIT[0])
        fluent_bit_remote = self._pods("fluent-bit-remote", FLUENT_BIT[0], agents)
        backend = values.backend
        backend_remote = self._pods("backend-remote", backend.service_name, values.app_namespace)
        vpc = self._cidr("vpc", values.vpc_cidr)

        self._policy(
            "prometheus",
            monitoring,
            prometheus,
            ingress=[kplus.NetworkPolicyRule(peer=grafana, ports=[_tcp(PROMETHEUS_PORT)])],
            egress=[
                *self._kubernetes_api("prometheus"),
                kplus.NetworkPolicyRule(peer=vpc, ports=[_tcp(KUBELET_PORT)]),
                kplus.NetworkPolicyRule(peer=vpc, ports=[_tcp(NODE_EXPORTER_PORT)]),
                kplus.NetworkPolicyRule(peer=alertmanager, ports=[_tcp(ALERTMANAGER[1])]),
                kplus.NetworkPolicyRule(peer=grafana, ports=[_tcp(GRAFANA[1])]),
                kplus.NetworkPolicyRule(peer=kube_state_metrics, ports=[_tcp(KSM_PORT)]),
                kplus.NetworkPolicyRule(peer=fluent_bit_remote, ports=[_tcp(FLUENT_BIT[1])]),
                kplus.NetworkPolicyRule(peer=backend_remote, ports=[_tcp(backend.port)]),
            ],
        )
        self._policy(
            "alertmanager",
            monitoring,
            alertmanager,
            ingress=[kplus.NetworkPolicyRule(peer=prometheus, ports=[_tcp(ALERTMANAGER[1])])],
            egress=[
                # Slack's webhooks and SNS, outside the VPC.
                kplus.NetworkPolicyRule(
                    peer=kplus.NetworkPolicyIpBlock.ipv4(
                        self, "slack", ANY_IPV4, [values.vpc_cidr]
                    ),
                    ports=[_tcp(HTTPS_PORT)],
                ),
                # Its pod role's credentials (SNS publishes).
                kplus.NetworkPolicyRule(
                    peer=self._cidr("alertmanager-pod-identity-agent", POD_IDENTITY_AGENT_CIDR),
                    ports=[_tcp(POD_IDENTITY_AGENT_PORT)],
                ),
            ],
        )
        self._policy(
            "grafana",
            monitoring,
            grafana,
            ingress=[kplus.NetworkPolicyRule(peer=prometheus, ports=[_tcp(GRAFANA[1])])],
            egress=[kplus.NetworkPolicyRule(peer=prometheus, ports=[_tcp(PROMETHEUS_PORT)])],
        )
        self._policy(
            KSM_NAME,
            monitoring,
            kube_state_metrics,
            ingress=[kplus.NetworkPolicyRule(peer=prometheus, ports=[_tcp(KSM_PORT)])],
            egress=self._kubernetes_api(KSM_NAME),
        )
        self._policy(
            FLUENT_BIT[0],
            agents,
            fluent_bit,
            ingress=[
                kplus.NetworkPolicyRule(peer=prometheus_elsewhere, ports=[_tcp(FLUENT_BIT[1])])
            ],
            egress=[
                # CloudWatch Logs (through the NAT or a VPC endpoint) and the API server.
                kplus.NetworkPolicyRule(
                    peer=self._cidr("fluent-bit-https", ANY_IPV4), ports=[_tcp(HTTPS_PORT)]
                ),
                kplus.NetworkPolicyRule(
                    peer=self._cidr("pod-identity-agent", POD_IDENTITY_AGENT_CIDR),
                    ports=[_tcp(POD_IDENTITY_AGENT_PORT)],
                ),
            ],
        )
        # In the app namespace: admit Prometheus to the backend's metrics (additive to the
        # app's own policies there).
        self._policy(
            "allow-prometheus-scrape",
            values.app_namespace,
            kplus.Pods.select(self, "backend", labels=selector_labels(backend.service_name)),
            ingress=[
                kplus.NetworkPolicyRule(peer=prometheus_elsewhere, ports=[_tcp(backend.port)])
            ],
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

    def _pods(self, id: str, name: str, namespace: str | None = None) -> kplus.Pods:
        """The pods of workload ``name``; in the policy's own namespace unless given."""
        if namespace is None:
            return kplus.Pods.select(self, f"{id}-pods", labels=selector_labels(name))
        return kplus.Pods.select(
            self,
            f"{id}-pods",
            labels=selector_labels(name),
            namespaces=kplus.Namespaces.select(self, f"{id}-namespace", names=[namespace]),
        )

    def _cidr(self, id: str, cidr: str) -> kplus.NetworkPolicyIpBlock:
        return kplus.NetworkPolicyIpBlock.ipv4(self, id, cidr)

    def _kubernetes_api(self, id: str) -> list[kplus.NetworkPolicyRule]:
        return [
            kplus.NetworkPolicyRule(
                peer=self._cidr(f"{id}-api-{index}", cidr), ports=[_tcp(HTTPS_PORT)]
            )
            for index, cidr in enumerate((self._values.service_cidr, self._values.vpc_cidr))
        ]


def _tcp(port: int) -> kplus.NetworkPolicyPort:
    return kplus.NetworkPolicyPort.tcp(port)
