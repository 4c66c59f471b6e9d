"""The application namespace, for the backend and frontend of one stage."""

from __future__ import annotations

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.labels import chart_labels
from charts.values import NamespaceValues

# Pod Security Admission: reject (enforce), log (audit) and warn about any pod that is not
# "restricted". "latest" follows the cluster's version of the restricted profile.
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_VERSION = "latest"


def pod_security_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = POD_SECURITY_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = POD_SECURITY_VERSION
    return labels


class NamespaceChart(cdk8s.Chart):
    """Deploys the ``openmarket-<stage>`` namespace the apps run in.

    For the cluster operators: every pod in it must meet the Pod Security Standard
    ``restricted``. The AWS Load Balancer Controller injects its pod readiness gate here, so
    a rolling update waits until the ALB sees each new pod healthy before the old one goes.
    """

    def __init__(self, scope: Construct, id: str, values: NamespaceValues) -> None:
        # A Namespace is cluster-scoped: the chart sets no namespace of its own.
        super().__init__(
            scope,
            id,
            labels=chart_labels(),
            disable_resource_name_hashes=True,
        )
        kplus.Namespace(
            self,
            "namespace",
            metadata=cdk8s.ApiObjectMetadata(
                name=values.name,
                labels={
                    **pod_security_labels(),
                    "openmarket.io/stage": values.stage,
                    "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
                },
            ),
        )
