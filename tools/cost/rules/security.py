"""Security: KMS keys, Secrets Manager secrets, WAF web ACLs, and IAM (free).

A WAF managed rule group counts as one rule, except the ones with a subscription or a
request fee of their own (Bot Control, ATP, ACFP, Anti-DDoS, other vendors): those are
reported unpriced rather than guessed.
"""

from __future__ import annotations

from tools.assembly import Resource, flatten
from tools.cost.context import StageContext
from tools.cost.model import Outcome, Unpriced
from tools.cost.rules.base import Service

_PAID_WAF_RULE_GROUPS = frozenset(
    {
        "AWSManagedRulesBotControlRuleSet",
        "AWSManagedRulesATPRuleSet",
        "AWSManagedRulesACFPRuleSet",
        "AWSManagedRulesAntiDDoSRuleSet",
    }
)


def kms_key(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    requests = c.assume("kms_requests_thousand_per_key")
    usd = c.price("kms.key_month") + requests / 10 * c.price("kms.request_10k")
    description = flatten(r.prop("Description")) or r.logical_id
    notes = []
    if r.prop("EnableKeyRotation"):
        notes.append("each of the first two yearly rotations adds $1/month from year two")
    return [
        c.item(
            r,
            "KMS/Secrets",
            f"KMS key: {description}",
            f"1 key + {requests:g}k requests",
            usd,
            notes,
        )
    ]


def secret(r: Resource, ctx: StageContext) -> list[Outcome]:
    c = ctx.calc()
    calls = c.assume("secrets_api_thousand_per_secret")
    usd = c.price("secretsmanager.secret_month") + calls / 10 * c.price("secretsmanager.api_10k")
    name = flatten(r.prop("Name")) or r.logical_id
    return [c.item(r, "KMS/Secrets", f"secret {name}", f"1 secret + {calls:g}k API calls", usd)]


def web_acl(r: Resource, ctx: StageContext) -> list[Outcome]:
    rules = [rule for rule in r.prop("Rules", default=[]) or [] if isinstance(rule, dict)]
    outcomes: list[Outcome] = []
    for rule in rules:
        group = (rule.get("Statement") or {}).get("ManagedRuleGroupStatement") or {}
        if group and (
            group.get("VendorName") != "AWS" or group.get("Name") in _PAID_WAF_RULE_GROUPS
        ):
            outcomes.append(
                Unpriced(
                    r.address,
                    r.type,
                    f"rule group {group.get('VendorName')}/{group.get('Name')} has its own "
                    "subscription or request fee",
                )
            )
    c = ctx.calc()
    requests = c.assume("waf_requests_million")
    usd = c.price("waf.web_acl_month") + len(rules) * c.price("waf.rule_month")
    usd += requests * c.price("waf.request_million")
    name = flatten(r.prop("Name")) or r.logical_id
    outcomes.insert(
        0,
        c.item(
            r,
            "WAF",
            f"WAF web ACL {name}",
            f"1 ACL + {len(rules)} rules + {requests:g} M requests",
            usd,
            ["a managed rule group counts as one rule"],
        ),
    )
    return outcomes


SERVICE = Service(
    name="security",
    rules={
        "AWS::KMS::Key": kms_key,
        "AWS::SecretsManager::Secret": secret,
        "AWS::WAFv2::WebACL": web_acl,
    },
    free={
        "AWS::IAM::Role": "IAM has no charge",
        "AWS::IAM::Policy": "IAM has no charge",
        "AWS::IAM::ManagedPolicy": "IAM has no charge",
        "AWS::IAM::InstanceProfile": "IAM has no charge",
        "AWS::IAM::OIDCProvider": "IAM has no charge",
        "AWS::IAM::ServiceLinkedRole": "IAM has no charge",
        "AWS::KMS::Alias": "aliases have no charge (the key is priced)",
        "AWS::CertificateManager::Certificate": "public ACM certificates have no charge",
        "AWS::SecretsManager::ResourcePolicy": "no charge",
        "AWS::SecretsManager::RotationSchedule": (
            "no charge; the rotation function runs once per rotation period"
        ),
        "AWS::SecretsManager::SecretTargetAttachment": "no charge",
        "AWS::Serverless::Application": (
            "the hosted rotation application: its function runs once per rotation period"
        ),
        "AWS::WAFv2::WebACLAssociation": "no charge (the web ACL is priced)",
    },
)
