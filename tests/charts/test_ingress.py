"""The ALB Ingress: routing, HTTPS and redirect iff a certificate, WAF, security group."""

from __future__ import annotations

import json
from dataclasses import replace

import cdk8s
import pytest

from charts.ingress import IngressChart, ingress_annotations
from charts.values import IngressValues
from openmarket_cdk.config import stage_config
from tests.charts.conftest import Manifest, RenderedStage, app_values, stage_params

ALB = "alb.ingress.kubernetes.io"
CERTIFICATE = (
    "arn:aws:acm:ap-northeast-2:000000000000:certificate/00000000-0000-0000-0000-0000000000a1"
)
HOST = "shop.example.com"


def render_ingress(values: IngressValues) -> Manifest:
    (only,) = IngressChart(cdk8s.App(), "ingress", values).to_json()
    result: Manifest = only
    return result


def with_https(stage: str) -> Manifest:
    values = app_values(stage).ingress
    return render_ingress(replace(values, certificate_arn=CERTIFICATE, host=HOST))


def ingress(rendered: dict[str, RenderedStage], stage: str) -> Manifest:
    (only,) = rendered[stage].manifests["ingress"]
    assert only["kind"] == "Ingress"
    assert only["apiVersion"] == "networking.k8s.io/v1"
    return only


@pytest.mark.parametrize("stage", stage_params())
def test_internet_facing_alb_with_ip_targets_waf_and_the_stack_security_group(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    manifest = ingress(rendered, stage)
    assert manifest["spec"]["ingressClassName"] == "alb"
    annotations = manifest["metadata"]["annotations"]
    values = rendered[stage].values.ingress
    assert annotations[f"{ALB}/scheme"] == "internet-facing"
    assert annotations[f"{ALB}/target-type"] == "ip"
    assert annotations[f"{ALB}/load-balancer-name"] == f"openmarket-{stage}-alb"
    assert annotations[f"{ALB}/security-groups"] == values.alb_security_group_id
    assert annotations[f"{ALB}/manage-backend-security-group-rules"] == "true"
    # A stage without WAF says so ("none": the controller removes any association); such
    # a stage's ALB is restricted by its security group instead (tests/test_network.py).
    waf = stage_config(stage).kubernetes.waf_enabled
    assert annotations[f"{ALB}/wafv2-acl-arn"] == (values.waf_acl_arn if waf else "none")
    assert (values.waf_acl_arn is not None) == waf
    attributes = dict(
        pair.split("=", 1) for pair in annotations[f"{ALB}/load-balancer-attributes"].split(",")
    )
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    for key in ("healthcheck-protocol", "healthcheck-port", "success-codes"):
        assert f"{ALB}/{key}" in annotations


@pytest.mark.parametrize("stage", stage_params())
def test_api_goes_to_the_backend_everything_else_to_the_frontend(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    spec = ingress(rendered, stage)["spec"]
    assert "defaultBackend" not in spec
    (rule,) = spec["rules"]
    routes = [
        (p["path"], p["pathType"], p["backend"]["service"]["name"], p["backend"]["service"]["port"])
        for p in rule["http"]["paths"]
    ]
    # Prefix "/api" matches /api and /api/*; more specific first.
    assert routes == [
        ("/api", "Prefix", "backend", {"number": 3001}),
        ("/", "Prefix", "frontend", {"number": 3000}),
    ]
    assert rule.get("host") == rendered[stage].values.ingress.host
    assert with_https(stage)["spec"]["rules"][0]["host"] == HOST


@pytest.mark.parametrize("stage", stage_params())
def test_https_and_redirect_exactly_when_a_certificate_is_configured(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    https_only = ("certificate-arn", "ssl-redirect", "ssl-policy")
    configured = rendered[stage].values.ingress.certificate_arn
    for manifest, certificate in (
        (ingress(rendered, stage), configured),
        (with_https(stage), CERTIFICATE),
    ):
        annotations = manifest["metadata"]["annotations"]
        listen_ports = json.loads(annotations[f"{ALB}/listen-ports"])
        if certificate:
            assert listen_ports == [{"HTTP": 80}, {"HTTPS": 443}]
            assert annotations[f"{ALB}/certificate-arn"] == certificate
            assert annotations[f"{ALB}/ssl-redirect"] == "443"
            assert annotations[f"{ALB}/ssl-policy"].startswith("ELBSecurityPolicy-TLS13")
        else:
            assert listen_ports == [{"HTTP": 80}]
            for key in https_only:
                assert f"{ALB}/{key}" not in annotations
        assert "tls" not in manifest["spec"]  # the ACM ARN, not a cluster Secret


@pytest.mark.parametrize("stage", stage_params())
def test_access_logs_exactly_when_a_bucket_is_given(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    annotations = ingress(rendered, stage)["metadata"]["annotations"]
    attributes = dict(
        pair.split("=", 1) for pair in annotations[f"{ALB}/load-balancer-attributes"].split(",")
    )
    bucket = rendered[stage].values.ingress.access_logs_bucket
    assert bucket == f"openmarket-{stage}-logs-000000000000"
    if bucket:
        assert attributes["access_logs.s3.enabled"] == "true"
        assert attributes["access_logs.s3.bucket"] == bucket
        assert attributes["access_logs.s3.prefix"] == "alb"
    else:
        assert not any(key.startswith("access_logs.") for key in attributes)


def test_too_long_a_load_balancer_name_is_refused() -> None:
    values = replace(app_values("dev").ingress, load_balancer_name="x" * 33)
    with pytest.raises(ValueError, match=r"1\.\.32 characters"):
        ingress_annotations(values)


@pytest.mark.parametrize("stage", stage_params())
def test_staging_and_prod_listen_on_443_for_their_domain_dev_on_80_only(
    rendered: dict[str, RenderedStage], stage: str
) -> None:
    """What `make manifests` renders: the certificate the cluster stack creates stands in as
    a placeholder (a CloudFormation token in the template)."""
    annotations = ingress(rendered, stage)["metadata"]["annotations"]
    listen_ports = json.loads(annotations[f"{ALB}/listen-ports"])
    rule = ingress(rendered, stage)["spec"]["rules"][0]
    if stage == "dev":
        assert listen_ports == [{"HTTP": 80}] and "host" not in rule
        return
    assert listen_ports == [{"HTTP": 80}, {"HTTPS": 443}]
    assert annotations[f"{ALB}/ssl-redirect"] == "443"
    assert annotations[f"{ALB}/certificate-arn"] == "<from-stack:cluster:CertificateArn>"
    assert rule["host"].endswith(".openmarket.example")
