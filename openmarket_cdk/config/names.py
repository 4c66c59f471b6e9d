"""The names derived from a stage: resources, secrets, topics, log groups, parameters. Every
name that more than one stack, chart or script must agree on is defined once, here, and
reached as ``config.names``."""

from __future__ import annotations

from dataclasses import dataclass

from openmarket_cdk.config.facts import GITHUB_REPOSITORY, STACK_KINDS
from openmarket_cdk.config.kubernetes import WorkloadConfig


@dataclass(frozen=True)
class StageNames:
    """The names of one stage (``StageConfig.names``)."""

    stage: str
    account: str
    region: str
    admin_role_name: str

    @property
    def prefix(self) -> str:
        """Name prefix for resources of this stage, e.g. ``openmarket-dev``."""
        return f"openmarket-{self.stage}"

    def stack_name(self, kind: str) -> str:
        """``openmarket-<stage>-<kind>``: one of STACK_KINDS."""
        if kind not in STACK_KINDS:
            raise ValueError(f"no stack kind {kind!r}")
        return f"{self.prefix}-{kind}"

    @property
    def stage_sleep_function_name(self) -> str:
        """The stage-sleep orchestrator (the schedules and `make wake` invoke it)."""
        return f"{self.prefix}-stage-sleep"

    @property
    def stage_sleep_cluster_function_name(self) -> str:
        """Stage sleep's function inside the VPC, for the Kubernetes API."""
        return f"{self.prefix}-stage-sleep-cluster"

    @property
    def namespace(self) -> str:
        """The Kubernetes namespace of the apps, ``openmarket-<stage>``."""
        return self.prefix

    @property
    def admin_role_arn(self) -> str:
        """The IAM role that gets cluster-admin through an EKS access entry."""
        return f"arn:aws:iam::{self.account}:role/{self.admin_role_name}"

    @property
    def cluster_name(self) -> str:
        return self.prefix

    @property
    def uploads_bucket_name(self) -> str:
        return f"{self.prefix}-uploads-{self.account}"

    @property
    def logs_bucket_name(self) -> str:
        return f"{self.prefix}-logs-{self.account}"

    @property
    def reports_bucket_name(self) -> str:
        return f"{self.prefix}-reports-{self.account}"

    @property
    def aurora_cluster_identifier(self) -> str:
        """The Aurora cluster's fixed identifier (the data stack's; a test checks they agree):
        ``make snapshot`` snapshots this cluster before a deploy."""
        return f"{self.prefix}-aurora"

    @property
    def predeploy_snapshot_prefix(self) -> str:
        """Manual snapshots taken before a deploy: ``<prefix>-<short sha>-<UTC time>``."""
        return f"{self.prefix}-predeploy"

    def access_logs_prefix(self, bucket: str) -> str:
        """Where S3 server access logs of one bucket (``uploads``, ``reports``) land in the
        logs bucket; the source bucket and the logs bucket's policy both use it."""
        return f"s3-access/{bucket}/"

    @property
    def aurora_secret_name(self) -> str:
        return f"{self.prefix}/aurora/admin"

    @property
    def cache_secret_name(self) -> str:
        return f"{self.prefix}/cache/auth"

    @property
    def order_events_bus_name(self) -> str:
        """The EventBridge bus the backend publishes ``OrderCreated`` to."""
        return f"{self.prefix}-orders"

    @property
    def grafana_admin_secret_name(self) -> str:
        """Secrets Manager: JSON with ``admin-user`` and ``admin-password`` (generated)."""
        return f"{self.prefix}/grafana/admin"

    @property
    def slack_webhooks_secret_name(self) -> str:
        """Secrets Manager: JSON with one Slack webhook URL per Alertmanager receiver."""
        return f"{self.prefix}/alertmanager/slack"

    def sns_topic_arn(self, topic_name: str) -> str:
        """A topic of this stage by name: known before deploy, so the cluster's pod roles can
        name topics of a stack deployed after theirs."""
        return f"arn:aws:sns:{self.region}:{self.account}:{topic_name}"

    @property
    def alerting_heartbeat_topic_name(self) -> str:
        """SNS: Alertmanager's Watchdog heartbeat (the dead man's switch watches its rate)."""
        return f"{self.prefix}-alerting-heartbeat"

    @property
    def alert_delivery_failures_topic_name(self) -> str:
        """SNS: Alertmanager says here when a Slack channel is unset or fails to deliver."""
        return f"{self.prefix}-alert-delivery-failures"

    @property
    def application_log_group_name(self) -> str:
        """Container logs of the cluster: where the CloudWatch Observability add-on's Fluent
        Bit writes them (its fixed name; the original design's was /aws/eks/<cluster>/...)."""
        return self.container_insights_log_group_name("application")

    def container_insights_log_group_name(self, kind: str) -> str:
        """A log group of the CloudWatch Observability add-on: ``application`` (containers),
        ``dataplane`` (kubelet, containerd, aws-node, kube-proxy), ``host`` (the node's
        system logs), ``performance`` (Container Insights metrics as embedded metric
        format). The add-on creates a missing one without retention, so the cluster stack
        creates all four first."""
        return f"/aws/containerinsights/{self.cluster_name}/{kind}"

    @property
    def load_balancer_name(self) -> str:
        """The ALB the ingress controller creates for the apps."""
        return f"{self.prefix}-alb"

    @property
    def load_balancer_hostname_parameter(self) -> str:
        """SSM parameter with the ALB's DNS name (a stage whose ALB lives on): the cluster
        stack writes it, the observability stack's ALB lookup runs again when it changes."""
        return f"/{self.prefix}/cluster/load-balancer-hostname"

    @property
    def nat_instance_ids_parameter(self) -> str:
        """SSM parameter with the NAT instance ids (comma-separated) for the dashboard: an
        export would block the instance's replacement by a new image."""
        return f"/{self.prefix}/network/nat-instance-ids"

    @property
    def alb_security_group_name(self) -> str:
        """The ALB's security group (the network stack's; the Ingress names it)."""
        return f"{self.prefix}-alb"

    @property
    def external_dns_owner_id(self) -> str:
        """ExternalDNS's TXT owner id: one per stage, so no stage touches another's records."""
        return self.prefix

    @property
    def runbook_base_url(self) -> str:
        """Where the alerts' runbooks live: docs/monitoring.md of this repository."""
        return f"https://github.com/{GITHUB_REPOSITORY}/blob/main/docs/monitoring.md"

    @property
    def image_registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    def ecr_repository_name(self, workload: WorkloadConfig) -> str:
        """``openmarket/<stage>/<repository>``: the original design's names, stage-qualified."""
        return f"openmarket/{self.stage}/{workload.image_repository}"
