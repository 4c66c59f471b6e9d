"""Typed values the charts take: plain strings and numbers and the config's own value types
(``openmarket_cdk.config``, no CDK import).

``openmarket_cdk.chart_values`` fills every field from the stage config, in one place: the
cluster stack with CloudFormation tokens (strings like ``${Token[...]}``) for what exists only
after deploy, ``make manifests`` and the chart tests with readable placeholders. A chart never
looks anything up and derives no name: what it renders is exactly what these values say.
Values that describe the same thing refer to one object (the Ingress holds the backend's
``WorkloadValues``), so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from openmarket_cdk.config import Resources


@dataclass(frozen=True)
class NamespaceValues:
    """The app namespace, ``openmarket-<stage>``, Pod Security ``restricted``."""

    name: str
    stage: str


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
    resources: Resources
    health_path: str
    hpa_min_replicas: int
    hpa_max_replicas: int
    hpa_cpu_utilization_percent: int
    service_account_name: str
    # Non-secret settings, mounted as a ConfigMap and exposed as environment variables.
    config: Mapping[str, str]
    # Secret settings: env var <- key of a Secret that External Secrets syncs.
    secret_env: tuple[SecretEnv, ...]


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
    refresh_interval: str


@dataclass(frozen=True)
class IngressValues:
    """The internet-facing ALB: /api/* -> backend, /* -> frontend, WAF, optional HTTPS."""

    namespace: str
    name: str
    load_balancer_name: str
    # /api/* goes to the backend, everything else to the frontend: their Services, ports
    # and health paths.
    backend: WorkloadValues
    frontend: WorkloadValues
    alb_security_group_id: str
    # None: no WAF (dev); the annotation then says "none" so the controller keeps it so.
    waf_acl_arn: str | None
    certificate_arn: str | None
    host: str | None
    access_logs_bucket: str | None


@dataclass(frozen=True)
class NetworkPolicyValues:
    """Default deny in the app namespace, then only the listed paths."""

    namespace: str
    backend: WorkloadValues
    frontend: WorkloadValues
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
