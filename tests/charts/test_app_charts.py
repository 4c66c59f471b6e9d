"""add_app_charts: which charts, in which order, with which ids and namespaces."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import cdk8s
import pytest
import yaml

from charts import CHART_KINDS, add_app_charts
from tests.charts.conftest import ROOT, RenderedStage, app_values, render, stage_params

CLUSTER_SCOPED = {"Namespace", "StorageClass"}


@pytest.mark.parametrize("stage", stage_params())
def test_charts_are_keyed_by_kind_in_apply_order(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    charts = rendered[stage].charts
    assert (
        tuple(charts)
        == CHART_KINDS
        == (
            "namespace",
            "platform",
            "backend",
            "frontend",
            "ingress",
            "network-policy",
        )
    )
    assert [chart.node.id for chart in charts.values()] == [f"{stage}-{k}" for k in CHART_KINDS]


@pytest.mark.parametrize("stage", stage_params())
def test_every_object_is_in_the_app_namespace_unless_cluster_scoped(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    namespace = f"openmarket-{stage}"
    for obj in rendered[stage].all_objects():
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], where
        else:
            assert obj["metadata"].get("namespace") == namespace, where
    charts = rendered[stage].charts
    assert charts["namespace"].namespace is None  # a Namespace is cluster-scoped
    assert charts["platform"].namespace is None  # holds the cluster-scoped StorageClass
    for kind in ("backend", "frontend", "ingress", "network-policy"):
        assert charts[kind].namespace == namespace


@pytest.mark.parametrize("stage", stage_params())
def test_names_are_stable_and_unique(rendered: dict[str, RenderedStage], stage: str) -> None:
    """Explicit names, no cdk8s hash suffixes: kubectl and people find objects by name."""
    keys = [(o["kind"], o["metadata"]["name"]) for o in rendered[stage].all_objects()]
    assert len(keys) == len(set(keys))
    names = {name for _, name in keys}
    assert names == {
        f"openmarket-{stage}",
        "gp3",
        "aws-secrets-manager",
        "backend-database",
        "backend-cache",
        "backend",
        "backend-config",
        "frontend",
        "frontend-config",
        "openmarket",
        "default-deny",
        "allow-dns",
    }


def test_the_whole_app_synthesizes_to_yaml(rendered: dict[str, RenderedStage]) -> None:
    app = cdk8s.App()
    add_app_charts(app, app_values("dev"))
    documents = [d for d in yaml.safe_load_all(app.synth_yaml()) if d]
    assert len(documents) == len(rendered["dev"].all_objects())


@pytest.mark.parametrize("stage", stage_params())
def test_the_ingress_and_the_policies_use_the_workloads_own_values(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    """One definition: the Ingress routes to, and the policies admit, the very Services the
    workload charts render (name and port), so the two cannot drift apart."""
    values = rendered[stage].values
    for holder in (values.ingress, values.network_policy):
        assert holder.backend is values.backend
        assert holder.frontend is values.frontend
    services = {
        obj["metadata"]["name"]: obj["spec"]["ports"][0]["port"]
        for obj in rendered[stage].of_kind("Service")
    }
    (ingress,) = rendered[stage].of_kind("Ingress")
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        service = path["backend"]["service"]
        assert services[service["name"]] == service["port"]["number"]


def test_charts_render_with_cdk_tokens_in_deploy_time_values() -> None:
    """The cluster stack passes CloudFormation tokens as strings: nothing may parse them."""
    token = "${Token[TOKEN.123]}"
    values = app_values("prod")
    backend = replace(
        values.backend,
        image=f"{token}.dkr.ecr.ap-northeast-2.amazonaws.com/openmarket/prod/backend:1.0.0",
        config={**values.backend.config, "UPLOADS_BUCKET": token, "REDIS_HOST": token},
    )
    values = replace(
        values,
        backend=backend,
        ingress=replace(
            values.ingress,
            alb_security_group_id=token,
            waf_acl_arn=token,
            access_logs_bucket=token,
            load_balancer_name=token,
        ),
        platform=replace(
            values.platform,
            external_secrets=tuple(
                replace(secret, remote_secret_name=token)
                for secret in values.platform.external_secrets
            ),
        ),
    )
    stage = render(values)
    text = yaml.safe_dump_all(stage.all_objects())
    assert text.count(token) >= 8


def test_charts_import_no_cdk() -> None:
    """charts/ is pure cdk8s: it must render without aws_cdk (the original design's layout)."""
    for path in sorted(Path(ROOT, "charts").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                # Of the CDK package, only the stage config's plain types and parsers.
                if module.startswith("openmarket_cdk.config"):
                    continue
                assert not module.startswith(("aws_cdk", "openmarket_cdk")), f"{path}: {module}"
