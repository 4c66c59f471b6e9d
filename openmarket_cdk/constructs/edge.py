"""StageEdge: the stage's domain, its ACM certificate and the DNS record pointing at the ALB."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from constructs import Construct

from openmarket_cdk.common import helm_resources
from openmarket_cdk.config import ControllerRelease, EdgeConfig
from openmarket_cdk.constructs.pod_identity import PodIdentity, add_controller_chart
from openmarket_cdk.nag import acknowledge

EXTERNAL_DNS_REPOSITORY = "https://kubernetes-sigs.github.io/external-dns/"
EXTERNAL_DNS_NAMESPACE = "external-dns"
EXTERNAL_DNS_SERVICE_ACCOUNT = "external-dns"
# The ALB alias (A, and AAAA if the ALB is dual-stack) and ExternalDNS's ownership TXT records.
EXTERNAL_DNS_RECORD_TYPES = ("A", "AAAA", "TXT")
# The TXT registry (0.18+) names its records "<type>-<first label>.<rest>" (registry/mapper).
_TXT_OWNERSHIP_PREFIXES = ("a-", "aaaa-", "cname-")


def external_dns_record_names(domain_name: str) -> list[str]:
    """Every record ExternalDNS writes for ``domain_name``, normalized as Route 53's
    ``ChangeResourceRecordSetsNormalizedRecordNames`` condition compares them (lower case,
    no trailing dot). ``cname-`` is the ownership record of releases before 0.18, which the
    registry may still clean up."""
    first, _, rest = domain_name.lower().rstrip(".").partition(".")
    return [f"{first}.{rest}"] + [f"{prefix}{first}.{rest}" for prefix in _TXT_OWNERSHIP_PREFIXES]


def external_dns_values(
    edge: EdgeConfig, owner_id: str, region: str, release: ControllerRelease
) -> dict[str, object]:
    """The ExternalDNS chart's values: Ingresses only, the stage's name only, its zone only."""
    return {
        "provider": {"name": "aws"},
        "sources": ["ingress"],
        # sync: a deleted Ingress takes its record with it; the owner id keeps other stages'
        # (and hand-made) records out of reach, and IAM allows only this stage's names.
        "policy": "sync",
        "registry": "txt",
        "txtOwnerId": owner_id,
        "domainFilters": [edge.domain_name],
        "extraArgs": [
            f"--zone-id-filter={edge.hosted_zone_id}",
            "--aws-zone-type=public",
            # The filter names a record, not the zone: let it select the zone above it.
            "--aws-zone-match-parent",
        ],
        "env": [{"name": "AWS_DEFAULT_REGION", "value": region}],
        "serviceAccount": {"name": EXTERNAL_DNS_SERVICE_ACCOUNT},
        "replicaCount": release.replicas,
        "resources": helm_resources(release.resources),
    }


class StageEdge(Construct):
    """The stage's HTTPS name, for shoppers: ``edge.domain_name`` in the stage's Route 53 zone.

    - an ACM certificate for the domain, validated by DNS in the hosted zone (CloudFormation
      writes the validation record and waits until the certificate is issued); the Ingress
      references its ARN, so the ALB listens on 443 with it;
    - ExternalDNS (Helm chart, pinned), which writes the alias record from the domain to the
      ALB once the ingress controller has created it. The ALB's DNS name is unknown to
      CloudFormation (the controller makes it at deploy time), so no CDK record can point
      at it. Its pod role may change only this stage's record names (and their ownership TXT
      records) in this zone.

    The chart starts after the nodes, its Pod Identity association and the ALB controller
    (whose webhook intercepts every Service the chart creates).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        edge: EdgeConfig,
        owner_id: str,
        region: str,
        release: ControllerRelease,
        cluster: eks.Cluster,
        after: Sequence[Construct],
    ) -> None:
        super().__init__(scope, construct_id)
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=edge.hosted_zone_id, zone_name=edge.hosted_zone_name
        )
        self.certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=edge.domain_name,
            validation=acm.CertificateValidation.from_dns(zone),
        )

        identity = PodIdentity(
            self,
            "PodIdentity",
            cluster=cluster,
            namespace=EXTERNAL_DNS_NAMESPACE,
            service_account=EXTERNAL_DNS_SERVICE_ACCOUNT,
            description=f"{owner_id}: pod role of ExternalDNS ({edge.domain_name})",
        )
        identity.role.add_to_policy(
            iam.PolicyStatement(
                actions=["route53:ChangeResourceRecordSets"],
                resources=[edge.zone_arn],
                conditions={
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": (
                            external_dns_record_names(edge.domain_name)
                        ),
                        "route53:ChangeResourceRecordSetsRecordTypes": list(
                            EXTERNAL_DNS_RECORD_TYPES
                        ),
                    }
                },
            )
        )
        identity.role.add_to_policy(
            iam.PolicyStatement(
                actions=["route53:ListResourceRecordSets", "route53:ListTagsForResources"],
                resources=[edge.zone_arn],
            )
        )
        identity.role.add_to_policy(
            iam.PolicyStatement(actions=["route53:ListHostedZones"], resources=["*"])
        )
        acknowledge(
            identity.role,
            "AwsSolutions-IAM5[Resource::*]",
            "route53:ListHostedZones has no resource-level permissions; ExternalDNS finds "
            "its zone with it and may change records in that one zone only.",
        )
        self.chart = add_controller_chart(
            cluster,
            "ExternalDns",
            identity=identity,
            chart="external-dns",
            repository=EXTERNAL_DNS_REPOSITORY,
            version=release.chart_version,
            values=external_dns_values(edge, owner_id, region, release),
        )
        for construct in after:
            self.chart.node.add_dependency(construct)
