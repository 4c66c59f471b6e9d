"""From a StageConfig (and a few deploy-time strings) to the values the charts take.

No CDK import: the cluster stack passes CloudFormation tokens as the deploy-time strings,
``make manifests`` passes readable placeholders. Everything else comes from config, so both
render the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from charts.monitoring import MonitoringValues
from charts.values import (
    AppChartValues,
    ContainerResources,
    ExternalSecretValues,
    IngressValues,
    NamespaceValues,
    NetworkPolicyValues,
    PlatformValues,
    SecretEnv,
    WorkloadValues,
)
from openmarket_cdk.config import StageConfig, WorkloadConfig

BACKEND = "backend"
FRONTEND = "frontend"
SECRET_STORE = "aws-secrets-manager"
DATABASE_SECRET = "backend-database"
CACHE_SECRET = "backend-cache"


@dataclass(frozen=True)
class DeployTimeValues:
    """What only exists once the other stacks are deployed (tokens in CDK)."""

    image_registry: str  # <account>.dkr.ecr.<region>.amazonaws.com
    alb_security_group_id: str
    waf_acl_arn: str
    cache_endpoint: str
    uploads_bucket_name: str
    event_bus_name: str = ""


def placeholder_deploy_values(config: StageConfig) -> DeployTimeValues:
    """Readable stand-ins for ``make manifests`` (no AWS account is asked)."""
    return DeployTimeValues(
        image_registry=config.image_registry,
        alb_security_group_id="<from-stack:network:AlbSecurityGroupId>",
        waf_acl_arn="<from-stack:cluster:WebAclArn>",
        cache_endpoint="<from-stack:data:CachePrimaryEndpoint>",
        uploads_bucket_name=config.uploads_bucket_name,
    )


def _resources(workload: WorkloadConfig) -> ContainerResources:
    return ContainerResources(
        cpu_request=workload.cpu_request,
        cpu_limit=workload.cpu_limit,
        memory_request=workload.memory_request,
        memory_limit=workload.memory_limit,
    )


def app_chart_values(config: StageConfig, deploy: DeployTimeValues) -> AppChartValues:
    """All chart values of one stage."""
    k8s = config.kubernetes
    net = config.network
    namespace = config.namespace
    repo = f"{deploy.image_registry}/openmarket/{config.name}"
    backend = WorkloadValues(
        name=BACKEND,
        namespace=namespace,
        image=f"{repo}/backend:{k8s.backend.image_tag}",
        port=net.backend_port,
        replicas=k8s.backend.replicas,
        resources=_resources(k8s.backend),
        health_path=k8s.backend.health_path,
        hpa_min_replicas=k8s.backend.hpa_min_replicas,
        hpa_max_replicas=k8s.backend.hpa_max_replicas,
        hpa_cpu_utilization_percent=k8s.backend.hpa_cpu_utilization_percent,
        service_account_name=BACKEND,
        config={
            "NODE_ENV": "production",
            "PORT": str(net.backend_port),
            "STAGE": config.name,
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
    frontend = WorkloadValues(
        name=FRONTEND,
        namespace=namespace,
        image=f"{repo}/frontend-web:{k8s.frontend.image_tag}",
        port=net.frontend_port,
        replicas=k8s.frontend.replicas,
        resources=_resources(k8s.frontend),
        health_path=k8s.frontend.health_path,
        hpa_min_replicas=k8s.frontend.hpa_min_replicas,
        hpa_max_replicas=k8s.frontend.hpa_max_replicas,
        hpa_cpu_utilization_percent=k8s.frontend.hpa_cpu_utilization_percent,
        service_account_name=FRONTEND,
        config={
            "NODE_ENV": "production",
            "PORT": str(net.frontend_port),
            "STAGE": config.name,
            # Server-side rendering calls the backend inside the cluster.
            "API_BASE_URL": f"http://{BACKEND}.{namespace}.svc.cluster.local:{net.backend_port}",
        },
    )
    return AppChartValues(
        stage=config.name,
        namespace=NamespaceValues(name=namespace, stage=config.name),
        platform=PlatformValues(
            namespace=namespace,
            region=config.region,
            secret_store_name=SECRET_STORE,
            external_secrets=(
                ExternalSecretValues(
                    name=DATABASE_SECRET,
                    remote_secret_name=config.aurora_secret_name,
                    keys={k: k for k in ("host", "port", "dbname", "username", "password")},
                ),
                ExternalSecretValues(
                    name=CACHE_SECRET,
                    remote_secret_name=config.cache_secret_name,
                    keys={"password": "password"},
                ),
            ),
        ),
        backend=backend,
        frontend=frontend,
        ingress=IngressValues(
            namespace=namespace,
            name="openmarket",
            load_balancer_name=config.load_balancer_name,
            backend_service=BACKEND,
            backend_port=net.backend_port,
            backend_health_path=k8s.backend.health_path,
            frontend_service=FRONTEND,
            frontend_port=net.frontend_port,
            frontend_health_path=k8s.frontend.health_path,
            alb_security_group_id=deploy.alb_security_group_id,
            waf_acl_arn=deploy.waf_acl_arn,
            certificate_arn=k8s.certificate_arn,
            host=k8s.domain_name,
            access_logs_bucket=config.logs_bucket_name,
        ),
        network_policy=NetworkPolicyValues(
            namespace=namespace,
            backend_name=BACKEND,
            backend_port=net.backend_port,
            frontend_name=FRONTEND,
            frontend_port=net.frontend_port,
            vpc_cidr=net.vpc_cidr,
            alb_subnet_cidrs=net.public_subnet_cidrs,
            database_subnet_cidrs=net.database_subnet_cidrs,
            mysql_port=net.mysql_port,
            redis_port=net.redis_port,
        ),
    )


def monitoring_chart_values(config: StageConfig) -> MonitoringValues:
    """The monitoring charts' values of one stage (names derived the standard way)."""
    return MonitoringValues.for_stage(
        config.name,
        region=config.region,
        vpc_cidr=config.network.vpc_cidr,
        secret_store_name=SECRET_STORE,
        service_cidr=config.network.service_cidr,
        cluster_name=config.cluster_name,
        log_group_name=config.application_log_group_name,
    )


def grafana_admin_secret_name(config: StageConfig) -> str:
    return monitoring_chart_values(config).secrets.grafana_admin_remote_name


def slack_secret_name(config: StageConfig) -> str:
    return monitoring_chart_values(config).secrets.slack_remote_name
