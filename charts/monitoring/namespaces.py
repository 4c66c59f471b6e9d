"""The two monitoring namespaces and the secret sync into them."""

from __future__ import annotations

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.labels import monitoring_labels
from charts.monitoring.values import MonitoringValues
from charts.namespace import POD_SECURITY_VERSION, pod_security_labels
from charts.platform import secret_sync
from charts.values import ExternalSecretValues

# Grafana's admin credentials: Kubernetes Secret key -> JSON property in Secrets Manager.
GRAFANA_ADMIN_KEYS = {"admin-user": "admin-user", "admin-password": "admin-password"}


def host_agent_pod_security_labels() -> dict[str, str]:
    """Pod Security for the host agents' namespace: "privileged" is enforced, because
    node-exporter needs the host network, PIDs and paths, which "baseline" forbids; every
    violation of "baseline" is still written to the audit log."""
    return {
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/enforce-version": POD_SECURITY_VERSION,
        "pod-security.kubernetes.io/audit": "baseline",
        "pod-security.kubernetes.io/audit-version": POD_SECURITY_VERSION,
    }


class MonitoringNamespaceChart(cdk8s.Chart):
    """Deploys the namespaces of the monitoring stack, for the platform team.

    - ``monitoring``: the Prometheus Operator, Prometheus, Alertmanager, Grafana,
      kube-state-metrics (the kube-prometheus-stack release). Pod Security ``restricted`` is
      enforced: none of them needs anything from the host.
    - ``monitoring-agents``: node-exporter, the DaemonSet that reads the node itself. Kept
      apart so the host access it needs does not lower the level of the namespace
      everything else runs in.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope, id, labels=monitoring_labels("namespaces"), disable_resource_name_hashes=True
        )
        self.monitoring_namespace = kplus.Namespace(
            self,
            "monitoring",
            metadata=cdk8s.ApiObjectMetadata(
                name=values.namespace,
                labels={**pod_security_labels(), "openmarket.io/stage": values.stage},
            ),
        )
        self.agents_namespace = kplus.Namespace(
            self,
            "agents",
            metadata=cdk8s.ApiObjectMetadata(
                name=values.agents_namespace,
                labels={**host_agent_pod_security_labels(), "openmarket.io/stage": values.stage},
            ),
        )


def monitoring_external_secrets(values: MonitoringValues) -> tuple[ExternalSecretValues, ...]:
    secrets = values.secrets
    return (
        ExternalSecretValues(
            name=secrets.grafana_admin_secret_name,
            remote_secret_name=secrets.grafana_admin_remote_name,
            keys=GRAFANA_ADMIN_KEYS,
        ),
        ExternalSecretValues(
            name=secrets.slack_secret_name,
            remote_secret_name=secrets.slack_remote_name,
            keys={receiver: receiver for receiver in values.alertmanager.slack_receivers},
        ),
    )


class MonitoringSecretsChart(cdk8s.Chart):
    """Deploys the secret sync of the monitoring namespace, for the platform team.

    A SecretStore for AWS Secrets Manager (no credentials: the External Secrets controller
    uses its own pod identity, whose IAM role the cluster stack grants these two secrets)
    and one ExternalSecret each for Grafana's admin login and the Slack webhook URLs.
    External Secrets creates and owns the Kubernetes Secrets; no value is in a manifest.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(
            scope, id, labels=monitoring_labels("secrets"), disable_resource_name_hashes=True
        )
        secrets = values.secrets
        self.secret_store, self.external_secrets = secret_sync(
            self,
            namespace=values.namespace,
            region=values.region,
            store_name=secrets.secret_store_name,
            refresh_interval=secrets.refresh_interval,
            secrets=monitoring_external_secrets(values),
            secret_labels=monitoring_labels("secrets"),
        )
