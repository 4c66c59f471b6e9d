"""Usage assumptions of the cost estimate: the one place for every figure that is not a price.

A template says *what* exists (2 x t3.medium, one ALB); it cannot say how many gigabytes leave
the VPC or how often a function runs. Those figures live here, per stage, each with its unit
and its source: a line of the original design (docs/requirements.md) where it gives one (its
cost estimate is dev's), otherwise a stated project assumption, marked approximate.
``docs/cost.md`` lists them; the report prints the ones each line item used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from openmarket_cdk.config import STAGE_NAMES


@dataclass(frozen=True)
class Assumption:
    """One usage figure per stage."""

    key: str
    unit: str
    values: tuple[float, float, float]  # dev, staging, prod
    source: str
    approximate: bool = True

    def value(self, stage: str) -> float:
        if stage not in STAGE_NAMES:
            raise KeyError(f"no stage {stage!r} for assumption '{self.key}'")
        return float(self.values[STAGE_NAMES.index(stage)])


ORIGINAL_COST = "original design's cost estimate (dev, USD per month; docs/requirements.md)"
PROD_SCALE = (
    "prod: project assumption, sized for the original design's 1,000 -> 10,000 DAU capacity plan"
)

_ALL: tuple[Assumption, ...] = (
    # --- traffic ---------------------------------------------------------------------------
    Assumption(
        key="data_transfer_out_gb",
        unit="GB/month out to the internet",
        values=(50, 50, 200),
        source=f"{ORIGINAL_COST}: 'data transfer 50 GB' (dev); staging as dev; {PROD_SCALE}",
    ),
    Assumption(
        key="nat_processed_gb",
        unit="GB/month through NAT (all gateways of the stage)",
        values=(20, 30, 100),
        source=(
            "project assumption: images come through the free S3 gateway endpoint; NAT "
            "carries EKS/ECR/STS API calls, OS updates and the functions' calls to AWS APIs"
        ),
    ),
    Assumption(
        key="alb_average_lcu",
        unit="LCU (average over the month)",
        values=(1, 1, 3),
        source=(
            f"{ORIGINAL_COST}: 'ALB 23' = ~16 of ALB-hours + ~7 of LCU-hours, i.e. ~1 LCU; "
            f"{PROD_SCALE}"
        ),
    ),
    Assumption(
        key="nlb_average_lcu",
        unit="NLCU (average over the month)",
        values=(0.5, 0.5, 1),
        source="project assumption, only used when a Service of type LoadBalancer appears",
    ),
    Assumption(
        key="waf_requests_million",
        unit="million requests/month inspected by WAF",
        values=(1, 2, 10),
        source=(
            "project assumption: 1,000 DAU x ~30 requests/day = ~1 M/month "
            "(the original design: 1,000 DAU today)"
        ),
    ),
    # --- storage -----------------------------------------------------------------------------
    Assumption(
        key="s3_uploads_gb",
        unit="GB stored (uploads bucket)",
        values=(100, 100, 300),
        source=f"{ORIGINAL_COST}: 'S3 100 GB' (dev); staging as dev; {PROD_SCALE}",
    ),
    Assumption(
        key="s3_logs_gb",
        unit="GB stored (logs bucket; expires after 90 days)",
        values=(10, 20, 50),
        source=(
            "project assumption: ALB/S3 access logs kept 90 days (the original design's retention)"
        ),
    ),
    Assumption(
        key="s3_other_bucket_gb",
        unit="GB stored per other bucket (e.g. reports)",
        values=(1, 1, 5),
        source="project assumption: daily CSV/JSON sales reports",
    ),
    Assumption(
        key="s3_uploads_put_thousand",
        unit="thousand PUT requests/month (uploads bucket)",
        values=(100, 100, 500),
        source="project assumption: uploads plus the thumbnails image-processor writes",
    ),
    Assumption(
        key="s3_uploads_get_thousand",
        unit="thousand GET requests/month (uploads bucket)",
        values=(1_000, 1_000, 5_000),
        source="project assumption",
    ),
    Assumption(
        key="ecr_gb_per_repository",
        unit="GB stored per ECR repository",
        values=(5, 10, 10),
        source=(
            f"{ORIGINAL_COST}: 'ECR 10 GB' over two repositories "
            "(dev keeps 10 images, staging/prod 30)"
        ),
    ),
    Assumption(
        key="ec2_root_volume_gb",
        unit="GB gp3 root volume per standalone EC2 instance",
        values=(8, 8, 8),
        source="AL2023 AMI default root volume (the NAT instance)",
        approximate=False,
    ),
    Assumption(
        key="eks_node_default_disk_gb",
        unit="GB per node when no launch template sets a volume",
        values=(20, 20, 20),
        source="EKS managed node group default DiskSize",
        approximate=False,
    ),
    Assumption(
        key="ec2_spot_discount",
        unit="fraction below the on-demand price, for Spot node groups",
        values=(0.6, 0.6, 0.6),
        source=(
            "project assumption: t3/t3a Spot in ap-northeast-2 has mostly run 60-70 % below "
            "on-demand; the lower end is used, and Spot prices move"
        ),
    ),
    # --- Lambda --------------------------------------------------------------------------------
    Assumption(
        key="lambda_invocations",
        unit="invocations/month, all application functions together",
        values=(1_000_000, 1_000_000, 3_000_000),
        source=(
            f"{ORIGINAL_COST}: 'Lambda 1M invocations' (dev); scheduled functions get their "
            f"schedule's count, the event-driven ones share the rest; {PROD_SCALE}"
        ),
    ),
    Assumption(
        key="lambda_average_duration_s",
        unit="seconds per invocation (average)",
        values=(0.5, 0.5, 0.5),
        source="project assumption: thumbnails and notifications take well under a second",
    ),
    # --- CloudWatch Logs ingestion (GB/month per log group of that kind) -----------------------
    Assumption(
        key="logs_eks_application_gb",
        unit="GB/month, container logs (the CloudWatch Observability add-on's Fluent Bit)",
        values=(5, 10, 30),
        source="project assumption: 4 app pods + add-ons at INFO level",
    ),
    Assumption(
        key="logs_eks_node_gb",
        unit="GB/month per node log group (dataplane: kubelet, containerd; host: system logs)",
        values=(1, 1.5, 2),
        source="project assumption: journald at default verbosity, 2-6 nodes",
    ),
    Assumption(
        key="logs_container_insights_performance_gb",
        unit="GB/month, Container Insights performance events (embedded metric format)",
        values=(1, 2, 3),
        source="project assumption: node, pod and container metrics every 60 s on 2-6 nodes",
    ),
    Assumption(
        key="logs_vpc_flow_gb",
        unit="GB/month, VPC flow logs (ALL traffic)",
        values=(3, 5, 15),
        source="project assumption",
    ),
    Assumption(
        key="logs_lambda_app_gb",
        unit="GB/month per application function log group",
        values=(0.2, 0.2, 0.5),
        source="project assumption: structured JSON, one line per invocation and error",
    ),
    Assumption(
        key="logs_rds_audit_gb",
        unit="GB/month, Aurora audit log",
        values=(1, 2, 5),
        source="project assumption: connections, DDL and DCL only (no query events)",
    ),
    Assumption(
        key="logs_rds_other_gb",
        unit="GB/month per other Aurora log group (error, slow query)",
        values=(0.1, 0.1, 0.3),
        source="project assumption",
    ),
    Assumption(
        key="logs_elasticache_gb",
        unit="GB/month per ElastiCache log group (slow log)",
        values=(0.05, 0.05, 0.1),
        source="project assumption",
    ),
    Assumption(
        key="logs_deploy_time_lambda_gb",
        unit="GB/month per deploy-time (custom resource) function log",
        values=(0.01, 0.01, 0.01),
        source="project assumption: these run only during deploys",
    ),
    Assumption(
        key="logs_default_gb",
        unit="GB/month for a log group of no known kind",
        values=(0.5, 0.5, 1),
        source="project assumption (a new log group kind should get its own figure)",
    ),
    Assumption(
        key="eks_log_api_gb",
        unit="GB/month, EKS control plane 'api' log",
        values=(1, 1, 2),
        source="project assumption",
    ),
    Assumption(
        key="eks_log_audit_gb",
        unit="GB/month, EKS control plane 'audit' log",
        values=(3, 4, 8),
        source="project assumption: audit is the largest control-plane log",
    ),
    Assumption(
        key="eks_log_authenticator_gb",
        unit="GB/month, EKS control plane 'authenticator' log",
        values=(0.5, 0.5, 1),
        source="project assumption",
    ),
    Assumption(
        key="eks_log_controllerManager_gb",
        unit="GB/month, EKS control plane 'controllerManager' log",
        values=(0.5, 0.5, 1),
        source="project assumption",
    ),
    Assumption(
        key="eks_log_scheduler_gb",
        unit="GB/month, EKS control plane 'scheduler' log",
        values=(0.2, 0.2, 0.4),
        source="project assumption",
    ),
    # --- Aurora --------------------------------------------------------------------------------
    Assumption(
        key="aurora_storage_gb",
        unit="GB of cluster volume used",
        values=(10, 100, 100),
        source=(
            "original design's data tier: 'storage 100 GB with auto-scaling' (staging/prod); "
            "dev: test data only"
        ),
    ),
    Assumption(
        key="aurora_io_million",
        unit="million I/O requests/month (Aurora Standard)",
        values=(5, 20, 100),
        source="project assumption",
    ),
    Assumption(
        key="aurora_backtrack_change_records_per_hour",
        unit="change records/hour kept for backtrack",
        values=(20_000, 20_000, 50_000),
        source="project assumption (only where BacktrackWindow > 0)",
    ),
    Assumption(
        key="aurora_serverless_active_hours",
        unit="hours/month a 0-ACU (auto-pause) cluster is in use",
        values=(196, 196, 196),
        source="project assumption: the working hours, weekdays 09:00-18:00 KST (730 x 45/168)",
    ),
    Assumption(
        key="aurora_serverless_active_acu",
        unit="ACU while in use",
        values=(1, 1, 1),
        source="project assumption: between the 0.5 ACU floor of a resumed cluster and max 2",
    ),
    Assumption(
        key="aurora_serverless_wake_minutes",
        unit="minutes an auto-pause cluster stays up per off-hours run that reads it",
        values=(12, 12, 12),
        source=(
            "project assumption: resume (~15 s), the run, and 10 idle minutes before the pause; "
            "the runs are counted from the templates' schedules"
        ),
    ),
    Assumption(
        key="aurora_serverless_wake_acu",
        unit="ACU while woken off-hours",
        values=(0.5, 0.5, 0.5),
        source="project assumption: the floor of a resumed cluster",
    ),
    Assumption(
        key="aurora_serverless_average_acu",
        unit="average ACU of a cluster whose minimum is above 0",
        values=(1, 1, 2),
        source="project assumption (raised to the configured minimum when that is higher)",
    ),
    # --- small services --------------------------------------------------------------------------
    Assumption(
        key="dynamodb_writes_million",
        unit="million write request units/month per table",
        values=(0.1, 0.1, 1),
        source="project assumption: one idempotency record per order notification",
    ),
    Assumption(
        key="dynamodb_reads_million",
        unit="million read request units/month per table",
        values=(0.1, 0.1, 1),
        source="project assumption",
    ),
    Assumption(
        key="dynamodb_storage_gb",
        unit="GB per table",
        values=(0.1, 0.1, 1),
        source="project assumption (TTL 24 h)",
    ),
    Assumption(
        key="sqs_requests_million",
        unit="million requests/month per queue",
        values=(0.01, 0.01, 0.05),
        source="project assumption: the queues are dead-letter queues",
    ),
    Assumption(
        key="eventbridge_custom_events_million",
        unit="million custom events/month per event bus",
        values=(0.01, 0.03, 0.3),
        source="project assumption: one 'order created' event per order",
    ),
    Assumption(
        key="kms_requests_thousand_per_key",
        unit="thousand KMS requests/month per key",
        values=(10, 20, 100),
        source="project assumption (S3 bucket keys keep the uploads bucket's share small)",
    ),
    Assumption(
        key="secrets_api_thousand_per_secret",
        unit="thousand API calls/month per secret",
        values=(5, 5, 20),
        source="project assumption: External Secrets refresh + functions' cached reads",
    ),
    Assumption(
        key="interface_endpoint_gb",
        unit="GB/month per interface VPC endpoint",
        values=(10, 10, 50),
        source="project assumption, only used when an interface endpoint appears",
    ),
)

ASSUMPTIONS: Mapping[str, Assumption] = MappingProxyType({a.key: a for a in _ALL})


def assumption(key: str) -> Assumption:
    """The assumption ``key``; KeyError names it if it does not exist."""
    try:
        return ASSUMPTIONS[key]
    except KeyError:
        raise KeyError(f"no cost assumption '{key}'") from None
