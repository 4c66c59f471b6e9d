"""From a StageConfig (and a few deploy-time strings) to the values every chart takes.

The one place chart values are filled in. No CDK import: the cluster stack passes
CloudFormation tokens as the deploy-time strings, ``make manifests`` and the chart tests pass
readable placeholders; everything else comes from config, so all three render the same
objects. Names flow one way: config -> here -> charts; no stack reads a name back from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from charts.monitoring.values import (
    AlertingValues,
    BackendTarget,
    MonitoringSecrets,
    MonitoringValues,
)
from charts.stage import StageChartValues
from charts.values import (
    AppChartValues,
    ExternalSecretValues,
    IngressValues,
    NamespaceValues,
    NetworkPolicyValues,
    PlatformValues,
    SecretEnv,
    WorkloadValues,
)
from charts.workload import SERVICE_PORT_NAME
from openmarket_cdk.config import StageConfig, WorkloadConfig

# Kubernetes Secrets that External Secrets syncs (chart-internal names: only the charts use
# them, through the values below).
DATABASE_SECRET = "backend-database"
CACHE_SECRET = "backend-cache"
GRAFANA_ADMIN_SECRET = "grafana-admin"

# The backend's metric contract (prom-client's default histogram, status in "status_code").
BACKEND_METRICS_PATH = "/metrics"
BACKEND_REQUEST_DURATION_METRIC = "http_request_duration_seconds"
BACKEND_STATUS_LABEL = "status_code"


@dataclass(frozen=True)
class DeployTimeValues:
    """What only exists once the other stacks are deployed (tokens in CDK)."""

    alb_security_group_id: str
    # The stage's WAF web ACL; None: no WAF (dev, whose ALB is restricted by CIDR instead).
    waf_acl_arn: str | None
    cache_endpoint: str
    uploads_bucket_name: str
    event_bus_name: str
    # The stage's ACM certificate (the cluster stack creates it); None: HTTP only (dev).
    certificate_arn: str | None


def placeholder_deploy_values(config: StageConfig) -> DeployTimeValues:
    """Readable stand-ins for ``make manifests`` and the chart tests (no AWS account asked);
    fixed names come from config, so only truly deploy-time ids are placeholders."""
    return DeployTimeValues(
        alb_security_group_id="<from-stack:network:AlbSecurityGroupId>",
        waf_acl_arn="<from-stack:cluster:WebAclArn>" if config.kubernetes.waf_enabled else None,
        cache_endpoint="<from-stack:data:CachePrimaryEndpoint>",
        uploads_bucket_name=config.names.uploads_bucket_name,
        event_bus_name=config.names.order_events_bus_name,
        certificate_arn="<from-stack:cluster:CertificateArn>" if config.edge else None,
    )


def _workload(
    config: StageConfig,
    workload: WorkloadConfig,
    settings: dict[str, str],
    secret_env: tuple[SecretEnv, ...] = (),
) -> WorkloadValues:
    names = config.names
    image = f"{names.image_registry}/{names.ecr_repository_name(workload)}:{workload.image_tag}"
    return WorkloadValues(
        name=workload.name,
        namespace=config.names.namespace,
        image=image,
        port=workload.port,
        replicas=workload.replicas,
        resources=workload.resources,
        health_path=workload.health_path,
        hpa_min_replicas=workload.hpa_min_replicas,
        hpa_max_replicas=workload.hpa_max_replicas,
        hpa_cpu_utilization_percent=workload.hpa_cpu_utilization_percent,
        service_account_name=workload.name,
        config={
            "NODE_ENV": "production",
            "PORT": str(workload.port),
            "STAGE": config.name,
            **settings,
        },
        secret_env=secret_env,
    )


def app_chart_values(config: StageConfig, deploy: DeployTimeValues) -> AppChartValues:
    """The app charts' values of one stage."""
    k8s = config.kubernetes
    net = config.network
    namespace = config.names.namespace
    backend = _workload(
        config,
        k8s.backend,
        {
            "AWS_REGION": config.region,
            "UPLOADS_BUCKET": deploy.uploads_bucket_name,
            "REDIS_HOST": deploy.cache_endpoint,
            "REDIS_PORT": str(net.redis_port),
            "REDIS_TLS": "true",
            "DB_SSL": "true",
            "EVENT_BUS_NAME": deploy.event_bus_name,
        },
        secret_env=(
            SecretEnv("DB_HOST", DATABASE_SECRET, "host"),
            SecretEnv("DB_PORT", DATABASE_SECRET, "port"),
            SecretEnv("DB_NAME", DATABASE_SECRET, "dbname"),
            SecretEnv("DB_USERNAME", DATABASE_SECRET, "username"),
            SecretEnv("DB_PASSWORD", DATABASE_SECRET, "password"),
            SecretEnv("REDIS_PASSWORD", CACHE_SECRET, "password"),
        ),
    )
    frontend = _workload(
        config,
        k8s.frontend,
        # Server-side rendering calls the backend inside the cluster.
        {"API_BASE_URL": f"http://{backend.name}.{namespace}.svc.cluster.local:{backend.port}"},
    )
    return AppChartValues(
        stage=config.name,
        namespace=NamespaceValues(name=namespace, stage=config.name),
        platform=PlatformValues(
            namespace=namespace,
            region=config.region,
            secret_store_name=k8s.secret_store_name,
            external_secrets=(
                ExternalSecretValues(
                    name=DATABASE_SECRET,
                    remote_secret_name=config.names.aurora_secret_name,
                    keys={k: k for k in ("host", "port", "dbname", "username", "password")},
                ),
                ExternalSecretValues(
                    name=CACHE_SECRET,
                    remote_secret_name=config.names.cache_secret_name,
                    keys={"password": "password"},
                ),
            ),
            refresh_interval=k8s.monitoring.secret_refresh_interval,
        ),
        backend=backend,
        frontend=frontend,
        ingress=IngressValues(
            namespace=namespace,
            name="openmarket",
            load_balancer_name=config.names.load_balancer_name,
            backend=backend,
            frontend=frontend,
            alb_security_group_id=deploy.alb_security_group_id,
            waf_acl_arn=deploy.waf_acl_arn,
            certificate_arn=deploy.certificate_arn,
            host=config.edge.domain_name if config.edge else None,
            access_logs_bucket=config.names.logs_bucket_name,
        ),
        network_policy=NetworkPolicyValues(
            namespace=namespace,
            backend=backend,
            frontend=frontend,
            vpc_cidr=net.vpc_cidr,
            alb_subnet_cidrs=net.public_subnet_cidrs,
            database_subnet_cidrs=net.database_subnet_cidrs,
            mysql_port=net.mysql_port,
            redis_port=net.redis_port,
        ),
    )


def monitoring_chart_values(config: StageConfig) -> MonitoringValues:
    """The monitoring charts' values of one stage."""
    k8s = config.kubernetes
    monitoring = k8s.monitoring
    obs = config.observability
    return MonitoringValues(
        stage=config.name,
        region=config.region,
        cluster_name=config.names.cluster_name,
        vpc_cidr=config.network.vpc_cidr,
        app_namespace=config.names.namespace,
        release_name=monitoring.stack.release_name,
        secrets=MonitoringSecrets(
            secret_store_name=k8s.secret_store_name,
            grafana_admin_remote_name=config.names.grafana_admin_secret_name,
            slack_remote_name=config.names.slack_webhooks_secret_name,
            grafana_admin_secret_name=GRAFANA_ADMIN_SECRET,
            slack_secret_name=monitoring.alertmanager.slack_webhooks_k8s_secret,
            refresh_interval=monitoring.secret_refresh_interval,
        ),
        namespace=monitoring.namespace,
        agents_namespace=monitoring.agents_namespace,
        service_cidr=config.network.service_cidr,
        backend=BackendTarget(
            service_name=k8s.backend.name,
            port_name=SERVICE_PORT_NAME,
            port=k8s.backend.port,
            metrics_path=BACKEND_METRICS_PATH,
            request_duration_metric=BACKEND_REQUEST_DURATION_METRIC,
            status_label=BACKEND_STATUS_LABEL,
            error_ratio_threshold=obs.alb_5xx_percent / 100,
            p95_latency_threshold_seconds=obs.alb_p95_latency_seconds,
        ),
        storage_class=monitoring.storage_class,
        prometheus=monitoring.prometheus,
        alertmanager=monitoring.alertmanager,
        grafana=monitoring.grafana,
        node_exporter=monitoring.node_exporter,
        kube_state_metrics=monitoring.kube_state_metrics,
        operator=monitoring.operator,
        config_reloader=monitoring.config_reloader,
        runbook_base_url=config.names.runbook_base_url,
        alerting=AlertingValues(
            heartbeat_topic_arn=config.names.sns_topic_arn(
                config.names.alerting_heartbeat_topic_name
            ),
            delivery_failures_topic_arn=config.names.sns_topic_arn(
                config.names.alert_delivery_failures_topic_name
            ),
            heartbeat_interval=f"{obs.heartbeat_interval_minutes}m",
        ),
    )


def chart_values(config: StageConfig, deploy: DeployTimeValues) -> StageChartValues:
    """The values of every chart of one stage: the one place they are filled in."""
    return StageChartValues(
        app=app_chart_values(config, deploy), monitoring=monitoring_chart_values(config)
    )


def placeholder_chart_values(config: StageConfig) -> StageChartValues:
    """What ``make manifests`` and the chart tests render: config plus placeholders."""
    return chart_values(config, placeholder_deploy_values(config))
