"""The internet-facing entry point: one ALB, managed by the AWS Load Balancer Controller."""

from __future__ import annotations

import json

import cdk8s
from cdk8s_plus_28 import k8s
from constructs import Construct

from charts.alb import ALB, HEALTHCHECK_SETTINGS
from charts.labels import chart_labels
from charts.values import IngressValues

INGRESS_CLASS = "alb"
API_PATH = "/api"
ROOT_PATH = "/"
# TLS 1.3 and 1.2 with forward-secret ciphers only.
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ACCESS_LOG_PREFIX = "alb"
HTTP_PORT, HTTPS_PORT = 80, 443
# ELBv2 limit on load balancer names.
MAX_LOAD_BALANCER_NAME = 32


def load_balancer_attributes(values: IngressValues) -> str:
    """The ``load-balancer-attributes`` annotation: key=value pairs, comma-separated."""
    attributes = {
        # Requests with malformed header names are dropped, not passed to the apps.
        "routing.http.drop_invalid_header_fields.enabled": "true",
        # The ALB belongs to this Ingress: deleting the Ingress (or the cluster stack) must
        # be able to delete it. It holds no state; WAF and DNS follow a new one.
        "deletion_protection.enabled": "false",
    }
    if values.access_logs_bucket:
        attributes |= {
            "access_logs.s3.enabled": "true",
            "access_logs.s3.bucket": values.access_logs_bucket,
            "access_logs.s3.prefix": ACCESS_LOG_PREFIX,
        }
    return ",".join(f"{key}={value}" for key, value in attributes.items())


def _is_token(value: str) -> bool:
    """A CDK token (resolved at deploy time) cannot be checked here."""
    return "${Token[" in value


def ingress_annotations(values: IngressValues) -> dict[str, str]:
    name = values.load_balancer_name
    if not _is_token(name) and not 1 <= len(name) <= MAX_LOAD_BALANCER_NAME:
        raise ValueError(f"load_balancer_name {name!r}: 1..{MAX_LOAD_BALANCER_NAME} characters")
    listen_ports: list[dict[str, int]] = [{"HTTP": HTTP_PORT}]
    annotations = {
        f"{ALB}/scheme": "internet-facing",
        # Pods are ALB targets directly (VPC CNI pod IPs): no NodePort hop.
        f"{ALB}/target-type": "ip",
        f"{ALB}/load-balancer-name": values.load_balancer_name,
        # The stack's ALB security group; the controller adds only the rules from the ALB to
        # the pods' ports on the node security group.
        f"{ALB}/security-groups": values.alb_security_group_id,
        f"{ALB}/manage-backend-security-group-rules": "true",
        # "none": the controller removes any association (dev has no web ACL).
        f"{ALB}/wafv2-acl-arn": values.waf_acl_arn or "none",
        f"{ALB}/load-balancer-attributes": load_balancer_attributes(values),
        **HEALTHCHECK_SETTINGS,
    }
    if values.certificate_arn:
        listen_ports.append({"HTTPS": HTTPS_PORT})
        annotations |= {
            f"{ALB}/certificate-arn": values.certificate_arn,
            f"{ALB}/ssl-policy": SSL_POLICY,
            # Every HTTP request gets a 301 to HTTPS: no rule forwards plain HTTP.
            f"{ALB}/ssl-redirect": str(HTTPS_PORT),
        }
    annotations[f"{ALB}/listen-ports"] = json.dumps(listen_ports, separators=(",", ":"))
    return dict(sorted(annotations.items()))


def _path(path: str, service: str, port: int) -> k8s.HttpIngressPath:
    return k8s.HttpIngressPath(
        path=path,
        path_type="Prefix",
        backend=k8s.IngressBackend(
            service=k8s.IngressServiceBackend(
                name=service, port=k8s.ServiceBackendPort(number=port)
            )
        ),
    )


class IngressChart(cdk8s.Chart):
    """Deploys the Ingress that gives shoppers the OpenMarket site and API.

    The AWS Load Balancer Controller turns it into one internet-facing ALB with pod-IP
    targets, the stack's security group and the WAF web ACL (none in dev, whose security group
    admits only its office ranges): ``/api`` and ``/api/*`` go to the
    backend, everything else to the frontend. With an ACM certificate in the stage config,
    it listens on 443 too and redirects all HTTP to HTTPS.

    The built-in cdk8s-plus Ingress only routes to Service constructs of the same chart; the
    Services live in the workload charts, so this one uses the generated ``KubeIngress``.
    """

    def __init__(self, scope: Construct, id: str, values: IngressValues) -> None:
        super().__init__(
            scope,
            id,
            namespace=values.namespace,
            labels=chart_labels(),
            disable_resource_name_hashes=True,
        )
        # More specific first. The controller (v2.4.3+) orders Prefix paths longest first
        # anyway; listing them that way keeps the manifest honest about the result.
        paths = [
            _path(API_PATH, values.backend.name, values.backend.port),
            _path(ROOT_PATH, values.frontend.name, values.frontend.port),
        ]
        self.ingress = k8s.KubeIngress(
            self,
            "ingress",
            metadata=k8s.ObjectMeta(name=values.name, annotations=ingress_annotations(values)),
            spec=k8s.IngressSpec(
                ingress_class_name=INGRESS_CLASS,
                rules=[
                    k8s.IngressRule(
                        host=values.host or None, http=k8s.HttpIngressRuleValue(paths=paths)
                    )
                ],
            ),
        )
