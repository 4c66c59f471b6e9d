"""The edge section: a stage's public name and Route 53 zone, and its checks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from openmarket_cdk.config.checks import DNS_LABEL
from openmarket_cdk.config.errors import fail
from openmarket_cdk.config.facts import (
    RESERVED_DOMAINS,
)
from openmarket_cdk.config.policy import StagePolicy

# Route 53 hosted zone ids: "Z" and upper-case letters/digits (e.g. Z0123456789ABCDEFGHIJ).
_HOSTED_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
# ExternalDNS's ownership TXT record of an AAAA alias is "aaaa-<first label>.<rest>".
_TXT_RECORD_TYPE_PREFIX = len("aaaa-")


@dataclass(frozen=True)
class EdgeConfig:
    """The stage's public name: HTTPS on ``domain_name``, a record in a Route 53 zone.

    The hosted zone is given by id and name (no lookup at synth). The cluster stack asks ACM
    for a certificate validated by DNS in that zone, and ExternalDNS points ``domain_name`` at
    the ALB the ingress controller creates. The zone itself (and its NS delegation from the
    parent domain) exists before the first deploy (docs/deployment.md).
    """

    domain_name: str
    hosted_zone_id: str
    hosted_zone_name: str

    @property
    def url(self) -> str:
        return f"https://{self.domain_name}"

    @property
    def zone_arn(self) -> str:
        return f"arn:aws:route53:::hostedzone/{self.hosted_zone_id}"


def check_domain(name: str, field_path: str) -> None:
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(DNS_LABEL.fullmatch(x) for x in labels):
        fail(field_path, f"{name!r} is not a lower-case DNS name without a trailing dot")


def validate_edge(edge: EdgeConfig | None, stage: str, policy: StagePolicy) -> None:
    if edge is None:
        if policy.production_like:
            fail("edge", f"{stage} serves HTTPS on its own domain: set edge in stages.py")
        return
    check_domain(edge.domain_name, "edge.domain_name")
    check_domain(edge.hosted_zone_name, "edge.hosted_zone_name")
    zone = edge.hosted_zone_name
    # Strictly inside: ExternalDNS's ownership records of an apex name ("a-<zone>") would
    # fall outside the zone.
    if not edge.domain_name.endswith(f".{zone}"):
        fail("edge.domain_name", f"{edge.domain_name!r} is not inside the hosted zone {zone!r}")
    if len(edge.domain_name.split(".")[0]) + _TXT_RECORD_TYPE_PREFIX > 63:
        fail("edge.domain_name", "its first label must leave room for ExternalDNS's 'aaaa-'")
    if not _HOSTED_ZONE_ID.fullmatch(edge.hosted_zone_id):
        fail(
            "edge.hosted_zone_id",
            f"{edge.hosted_zone_id!r} is not a Route 53 hosted zone id (Z + letters/digits)",
        )


def is_reserved_domain(name: str) -> bool:
    """Whether ``name`` is under a name no registry hands out (RFC 2606/6761)."""
    return any(name == r or name.endswith(f".{r}") for r in RESERVED_DOMAINS)
