"""Typed values the charts take: plain strings and numbers, no CDK import.

The cluster stack fills them with CloudFormation tokens (strings like ``${Token[...]}``);
``make manifests`` fills them from config with readable placeholders. A chart never looks
anything up: what it renders is exactly what these values say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NamespaceValues:
    """The app namespace, ``openmarket-<stage>``, Pod Security ``restricted``."""

    name: str
    stage: str


@dataclass(frozen=True)
class ContainerResources:
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


@dataclass(frozen=True)
class SecretEnv:
    """One environment variable read from a key of a Kubernetes Secret (synced by ESO)."""

    env_name: str
    secret_name: str
    key: str


@dataclass(frozen=True)
class WorkloadValues:
    """A web workload: Deployment, ConfigMap, ClusterIP Service, HPA, PDB, ServiceAccount."""

    name: str  # "backend" or "frontend"; also the app label and the Service name
    namespace: str
    image: str  # full image URI with tag
    port: int
    replicas: int
    resources: ContainerResources
    health_path: str
    hpa_min_replicas: int
    hpa_max_replicas: int
    hpa_cpu_utilization_percent: int
    service_account_name: str
    # Non-secret settings, mounted as a ConfigMap and exposed as environment variables.
    config: Mapping[str, str] = field(default_factory=dict)
    # Secret settings: env var <- key of a Secret that External Secrets syncs.
    secret_env: tuple[SecretEnv, ...] = ()


@dataclass(frozen=True)
class ExternalSecretValues:
    """One Kubernetes Secret synced from one AWS Secrets Manager secret (JSON)."""

    name: str  # the Kubernetes Secret (and ExternalSecret) name
    remote_secret_name: str  # the Secrets Manager secret name or ARN
    # Kubernetes Secret key -> JSON property of the remote secret.
    keys: Mapping[str, str]


@dataclass(frozen=True)
class PlatformValues:
    """Cluster plumbing the apps rely on: gp3 default StorageClass and secret sync."""

    namespace: str
    region: str
    secret_store_name: str
    external_secrets: tuple[ExternalSecretValues, ...]
    refresh_interval: str = "1h"


@dataclass(frozen=True)
class IngressValues:
    """The internet-facing ALB: /api/* -> backend, /* -> frontend, WAF, optional HTTPS."""

    namespace: str
    name: str
    load_balancer_name: str
    backend_service: str
    backend_port: int
    backend_health_path: str
    frontend_service: str
    frontend_port: int
    frontend_health_path: str
    alb_security_group_id: str
    waf_acl_arn: str
    certificate_arn: str | None = None
    host: str | None = None
    access_logs_bucket: str | None = None


@dataclass(frozen=True)
class NetworkPolicyValues:
    """Default deny in the app namespace, then only the listed paths."""

    namespace: str
    backend_name: str
    backend_port: int
    frontend_name: str
    frontend_port: int
    vpc_cidr: str
    # The ALB's subnets: with IP targets, ALB traffic (and its health checks) comes from here.
    alb_subnet_cidrs: tuple[str, ...]
    # Aurora and the cache live in these subnets.
    database_subnet_cidrs: tuple[str, ...]
    mysql_port: int
    redis_port: int


@dataclass(frozen=True)
class AppChartValues:
    """Everything one stage's charts need, built by ``openmarket_cdk.chart_values``."""

    stage: str
    namespace: NamespaceValues
    platform: PlatformValues
    backend: WorkloadValues
    frontend: WorkloadValues
    ingress: IngressValues
    network_policy: NetworkPolicyValues
