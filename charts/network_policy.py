"""Who may talk to whom in the app namespace: default deny, then the listed paths only."""

from __future__ import annotations

from collections.abc import Sequence

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.labels import chart_labels, selector_labels
from charts.values import NetworkPolicyValues

DNS_PORT = 53
KUBE_SYSTEM = "kube-system"
KUBE_DNS_LABELS = {"k8s-app": "kube-dns"}
HTTPS_PORT = 443
ANY_IPV4 = "0.0.0.0/0"
# The EKS Pod Identity agent: a link-local address on every node, port 80.
POD_IDENTITY_AGENT_CIDR = "169.254.170.23/32"
POD_IDENTITY_AGENT_PORT = 80

DENY = kplus.NetworkPolicyTrafficDefault.DENY


class NetworkPolicyChart(cdk8s.Chart):
    """Deploys the NetworkPolicies of the app namespace, for the security reviewer.

    ``default-deny`` isolates every pod in both directions; the other policies add, and
    only add, these paths (NetworkPolicies are a union of allows):

    - ALB subnets -> backend port and frontend port (the ALB's traffic and health checks;
      targets are pod IPs);
    - frontend -> backend port;
    - backend -> database subnets on the MySQL and Redis ports;
    - backend -> AWS APIs: TCP 443 anywhere outside the VPC, and the EKS Pod Identity
      agent (169.254.170.23:80) for its credentials;
    - every pod -> kube-dns in kube-system, UDP and TCP 53.

    Enforced by the VPC CNI network policy agent, which always admits traffic from the
    pod's own node, so kubelet probes need no rule here.
    """

    def __init__(self, scope: Construct, id: str, values: NetworkPolicyValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.namespace,
            labels=chart_labels(),
            disable_resource_name_hashes=True,
        )
        self._values = values
        backend = self._pods("backend-pods", values.backend.name)
        frontend = self._pods("frontend-pods", values.frontend.name)
        all_pods = kplus.Pods.all(self, "all-pods")

        self.default_deny = kplus.NetworkPolicy(
            self,
            "default-deny",
            metadata=cdk8s.ApiObjectMetadata(name="default-deny"),
            selector=all_pods,
            ingress=kplus.NetworkPolicyTraffic(default=DENY),
            egress=kplus.NetworkPolicyTraffic(default=DENY),
        )

        kube_dns = kplus.Pods.select(
            self,
            "kube-dns",
            labels=KUBE_DNS_LABELS,
            namespaces=kplus.Namespaces.select(self, "kube-system", names=[KUBE_SYSTEM]),
        )
        self.dns = kplus.NetworkPolicy(
            self,
            "allow-dns",
            metadata=cdk8s.ApiObjectMetadata(name="allow-dns"),
            selector=all_pods,
            egress=kplus.NetworkPolicyTraffic(
                rules=[
                    kplus.NetworkPolicyRule(
                        peer=kube_dns,
                        ports=[
                            kplus.NetworkPolicyPort.udp(DNS_PORT),
                            kplus.NetworkPolicyPort.tcp(DNS_PORT),
                        ],
                    )
                ]
            ),
        )

        backend_port = kplus.NetworkPolicyPort.tcp(values.backend.port)
        self.backend = kplus.NetworkPolicy(
            self,
            "backend",
            metadata=cdk8s.ApiObjectMetadata(name=values.backend.name),
            selector=backend,
            ingress=kplus.NetworkPolicyTraffic(
                rules=[
                    *self._from_alb("backend-alb", values.backend.port),
                    kplus.NetworkPolicyRule(peer=frontend, ports=[backend_port]),
                ]
            ),
            egress=kplus.NetworkPolicyTraffic(
                rules=[
                    *self._to_cidrs(
                        "backend-mysql", values.database_subnet_cidrs, values.mysql_port
                    ),
                    *self._to_cidrs(
                        "backend-redis", values.database_subnet_cidrs, values.redis_port
                    ),
                    kplus.NetworkPolicyRule(
                        peer=kplus.NetworkPolicyIpBlock.ipv4(
                            self, "aws-apis", ANY_IPV4, [values.vpc_cidr]
                        ),
                        ports=[kplus.NetworkPolicyPort.tcp(HTTPS_PORT)],
                    ),
                    kplus.NetworkPolicyRule(
                        peer=kplus.NetworkPolicyIpBlock.ipv4(
                            self, "pod-identity-agent", POD_IDENTITY_AGENT_CIDR
                        ),
                        ports=[kplus.NetworkPolicyPort.tcp(POD_IDENTITY_AGENT_PORT)],
                    ),
                ]
            ),
        )

        self.frontend = kplus.NetworkPolicy(
            self,
            "frontend",
            metadata=cdk8s.ApiObjectMetadata(name=values.frontend.name),
            selector=frontend,
            ingress=kplus.NetworkPolicyTraffic(
                rules=self._from_alb("frontend-alb", values.frontend.port)
            ),
            egress=kplus.NetworkPolicyTraffic(
                rules=[kplus.NetworkPolicyRule(peer=backend, ports=[backend_port])]
            ),
        )

    def _pods(self, id: str, workload_name: str) -> kplus.Pods:
        return kplus.Pods.select(self, id, labels=selector_labels(workload_name))

    def _from_alb(self, id: str, port: int) -> list[kplus.NetworkPolicyRule]:
        return self._to_cidrs(id, self._values.alb_subnet_cidrs, port)

    def _to_cidrs(self, id: str, cidrs: Sequence[str], port: int) -> list[kplus.NetworkPolicyRule]:
        """One rule per CIDR (a cdk8s-plus peer is a single ipBlock) on one TCP port."""
        return [
            kplus.NetworkPolicyRule(
                peer=kplus.NetworkPolicyIpBlock.ipv4(self, f"{id}-{index}", cidr),
                ports=[kplus.NetworkPolicyPort.tcp(port)],
            )
            for index, cidr in enumerate(cidrs)
        ]
