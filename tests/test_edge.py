"""The stage's edge: ACM certificate, ExternalDNS and the HTTPS Ingress, per stage.

staging and prod (and dev with ``-c domain=...``) get a DNS-validated certificate in their
hosted zone, an Ingress on 443 with an HTTP->HTTPS redirect that references it, and
ExternalDNS, which may change only the stage's records; dev without a domain is HTTP only.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from openmarket_cdk.app_builder import stage_with_context
from openmarket_cdk.config import StageConfig, StageConfigError, stage_config
from openmarket_cdk.constructs.edge import (
    EXTERNAL_DNS_NAMESPACE,
    EXTERNAL_DNS_SERVICE_ACCOUNT,
)
from tests.cfn import as_list, of_type, only, pod_identity, ref_id, role_statements
from tests.conftest import Synthesized

ALB = "alb.ingress.kubernetes.io"
HTTPS_STAGES = ["staging", "prod"]


def _edge(stage: str) -> Any:
    edge = stage_config(stage).edge
    assert edge is not None
    return edge


def _certificate_id(template: dict[str, Any]) -> str:
    (logical_id,) = of_type(template, "AWS::CertificateManager::Certificate")
    return logical_id


def _external_dns(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, resource)
        for logical_id, resource in of_type(template, "Custom::AWSCDK-EKS-HelmChart").items()
        if resource["Properties"]["Chart"] == "external-dns"
    ]
    return found


def _ingress(template: dict[str, Any]) -> dict[str, Any]:
    (resource,) = [
        resource
        for logical_id, resource in template["Resources"].items()
        if logical_id.startswith("ClusterChartingress")
    ]
    return resource


@pytest.mark.parametrize("stage", HTTPS_STAGES)
def test_certificate_is_validated_by_dns_in_the_stage_zone(
    synthesized: Synthesized, stage: str
) -> None:
    edge = _edge(stage)
    certificate = only(
        synthesized.template(stage, "cluster"), "AWS::CertificateManager::Certificate"
    )
    assert certificate["DomainName"] == edge.domain_name
    assert certificate["ValidationMethod"] == "DNS"
    assert certificate["DomainValidationOptions"] == [
        {"DomainName": edge.domain_name, "HostedZoneId": edge.hosted_zone_id}
    ]


@pytest.mark.parametrize("stage", HTTPS_STAGES)
def test_ingress_serves_https_with_the_stack_certificate_and_redirects_http(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    manifest = json.dumps(_ingress(template)["Properties"]["Manifest"])
    # The certificate's ARN is a token resolved by CloudFormation, never a copied string.
    assert json.dumps({"Ref": _certificate_id(template)}) in manifest
    assert f'{ALB}/listen-ports\\":\\"[{{\\\\\\"HTTP\\\\\\":80}},{{\\\\\\"HTTPS\\\\\\":443}}]' in (
        manifest
    )
    assert f'{ALB}/ssl-redirect\\":\\"443' in manifest
    assert f'{ALB}/ssl-policy\\":\\"ELBSecurityPolicy-TLS13-1-2-2021-06' in manifest
    assert f'\\"host\\":\\"{_edge(stage).domain_name}\\"' in manifest


def test_dev_without_a_domain_is_http_only(synthesized: Synthesized) -> None:
    template = synthesized.template("dev", "cluster")
    assert not of_type(template, "AWS::CertificateManager::Certificate")
    charts = {
        r["Properties"]["Chart"] for r in of_type(template, "Custom::AWSCDK-EKS-HelmChart").values()
    }
    assert "external-dns" not in charts
    manifest = json.dumps(_ingress(template)["Properties"]["Manifest"])
    assert "certificate-arn" not in manifest and "ssl-redirect" not in manifest


@pytest.mark.parametrize("stage", HTTPS_STAGES)
def test_external_dns_is_pinned_and_limited_to_the_stage_name(
    synthesized: Synthesized, stage: str
) -> None:
    edge = _edge(stage)
    _, chart = _external_dns(synthesized.template(stage, "cluster"))
    props = chart["Properties"]
    assert props["Version"] == stage_config(stage).kubernetes.controllers.external_dns.chart_version
    assert props["Repository"] == "https://kubernetes-sigs.github.io/external-dns/"
    assert props["Namespace"] == EXTERNAL_DNS_NAMESPACE
    values = json.loads(props["Values"])
    assert values["provider"] == {"name": "aws"}
    assert values["sources"] == ["ingress"]
    assert values["txtOwnerId"] == f"openmarket-{stage}"  # one owner per stage
    assert values["domainFilters"] == [edge.domain_name]
    assert f"--zone-id-filter={edge.hosted_zone_id}" in values["extraArgs"]
    assert values["serviceAccount"]["name"] == EXTERNAL_DNS_SERVICE_ACCOUNT
    assert values["policy"] in ("sync", "upsert-only")
    assert values["resources"]["limits"]["memory"]


@pytest.mark.parametrize("stage", HTTPS_STAGES)
def test_external_dns_waits_for_nodes_credentials_and_the_alb_controller(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "cluster")
    _, chart = _external_dns(template)
    depends_on = chart["DependsOn"]
    nodegroups = list(of_type(template, "AWS::EKS::Nodegroup"))
    association = next(
        logical_id
        for logical_id, a in of_type(template, "AWS::EKS::PodIdentityAssociation").items()
        if a["Properties"]["Namespace"] == EXTERNAL_DNS_NAMESPACE
    )
    alb_controller = next(
        logical_id
        for logical_id, r in of_type(template, "Custom::AWSCDK-EKS-HelmChart").items()
        if r["Properties"]["Chart"] == "aws-load-balancer-controller"
    )
    for needed in (*nodegroups, association, alb_controller):
        assert needed in depends_on, needed


@pytest.mark.parametrize("stage", HTTPS_STAGES)
def test_external_dns_may_change_only_the_stage_records_in_its_zone(
    synthesized: Synthesized, stage: str
) -> None:
    edge = _edge(stage)
    template = synthesized.template(stage, "cluster")
    association = pod_identity(template, EXTERNAL_DNS_NAMESPACE, EXTERNAL_DNS_SERVICE_ACCOUNT)
    assert association["ServiceAccount"] == EXTERNAL_DNS_SERVICE_ACCOUNT
    statements = role_statements(template, ref_id(association["RoleArn"]))
    zone = f"arn:aws:route53:::hostedzone/{edge.hosted_zone_id}"
    (change,) = [
        s for s in statements if "route53:ChangeResourceRecordSets" in as_list(s["Action"])
    ]
    assert change["Resource"] == zone
    condition = change["Condition"]["ForAllValues:StringEquals"]
    first, rest = edge.domain_name.split(".", 1)
    assert sorted(condition["route53:ChangeResourceRecordSetsNormalizedRecordNames"]) == sorted(
        [edge.domain_name, *(f"{p}-{first}.{rest}" for p in ("a", "aaaa", "cname"))]
    )
    assert sorted(condition["route53:ChangeResourceRecordSetsRecordTypes"]) == ["A", "AAAA", "TXT"]
    for statement in statements:
        if statement["Resource"] == "*":
            assert as_list(statement["Action"]) == ["route53:ListHostedZones"]
        else:
            assert statement["Resource"] == zone


def _notice(capsys: pytest.CaptureFixture[str], context: dict[str, str]) -> tuple[StageConfig, str]:
    config = stage_with_context(cdk.App(context=context), stage_config("dev"))
    return config, capsys.readouterr().err


def test_dev_says_it_is_http_only_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    config, err = _notice(capsys, {})
    assert config.edge is None
    (line,) = err.splitlines()
    assert line.startswith("dev: no domain (edge.domain_name): HTTP only")
    assert "-c domain=" in line


def test_dev_with_a_domain_from_context_is_https_and_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = {
        "domain": "dev.shop.example.net",
        "hosted_zone_id": "Z0123456789ABC",
        "hosted_zone_name": "example.net",
    }
    config, err = _notice(capsys, context)
    assert config.edge is not None and config.edge.domain_name == "dev.shop.example.net"
    assert err == ""


def test_a_domain_from_context_applies_to_one_selected_stage_only() -> None:
    from openmarket_cdk.app_builder import build_app

    app = cdk.App(context={"domain": "shop.example.net", "aws:cdk:bundling-stacks": []})
    with pytest.raises(StageConfigError, match="-c stages=<stage>"):
        build_app(app)
