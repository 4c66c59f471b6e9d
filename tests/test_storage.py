"""StorageStack invariants, per stage: buckets and ECR repositories."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openmarket_cdk.config import PLACEHOLDER_ACCOUNT, STAGE_NAMES, stage_config
from tests.cfn import of_type, ref_id
from tests.conftest import Synthesized

pytestmark = pytest.mark.parametrize("stage", STAGE_NAMES)


def _bucket(synthesized: Synthesized, stage: str, kind: str) -> tuple[str, dict[str, Any]]:
    name = f"openmarket-{stage}-{kind}-{PLACEHOLDER_ACCOUNT}"
    buckets = of_type(synthesized.template(stage, "storage"), "AWS::S3::Bucket")
    for logical_id, bucket in buckets.items():
        if bucket["Properties"]["BucketName"] == name:
            return logical_id, bucket
    raise AssertionError(f"no bucket named {name}")


@pytest.mark.parametrize("kind", ["uploads", "logs"])
def test_bucket_is_versioned_encrypted_and_private(
    synthesized: Synthesized, stage: str, kind: str
) -> None:
    _, bucket = _bucket(synthesized, stage, kind)
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    expected = "aws:kms" if kind == "uploads" else "AES256"
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == expected
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("kind", ["uploads", "logs"])
def test_bucket_policy_denies_plain_http(synthesized: Synthesized, stage: str, kind: str) -> None:
    logical_id, _ = _bucket(synthesized, stage, kind)
    policies = of_type(synthesized.template(stage, "storage"), "AWS::S3::BucketPolicy").values()
    (policy,) = [p for p in policies if ref_id(p["Properties"]["Bucket"]) == logical_id]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
    }.items() <= next(s for s in statements if s["Effect"] == "Deny").items()


def test_uploads_access_logs_go_to_the_logs_bucket(synthesized: Synthesized, stage: str) -> None:
    logs_id, _ = _bucket(synthesized, stage, "logs")
    _, uploads = _bucket(synthesized, stage, "uploads")
    logging = uploads["Properties"]["LoggingConfiguration"]
    assert ref_id(logging["DestinationBucketName"]) == logs_id
    assert logging["LogFilePrefix"] == "s3-access/uploads/"


def test_uploads_lifecycle_tiers_to_ia_then_glacier(synthesized: Synthesized, stage: str) -> None:
    """Glacier Instant Retrieval: images stay servable (no restore) after day 90."""
    _, uploads = _bucket(synthesized, stage, "uploads")
    (rule,) = uploads["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
        {"StorageClass": "GLACIER_IR", "TransitionInDays": 90},
    ]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    assert "ExpirationInDays" not in rule  # user uploads never expire


def test_logs_lifecycle_tiers_and_expires_at_retention(
    synthesized: Synthesized, stage: str
) -> None:
    storage = stage_config(stage).storage
    _, logs = _bucket(synthesized, stage, "logs")
    (rule,) = logs["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == storage.logs_expire_after_days == 90
    assert {"StorageClass": "STANDARD_IA", "TransitionInDays": 30} in rule["Transitions"]
    # Every transition happens before expiry (S3 rejects the rule otherwise).
    assert all(t["TransitionInDays"] < rule["ExpirationInDays"] for t in rule["Transitions"])
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1


def test_uploads_key_rotates(synthesized: Synthesized, stage: str) -> None:
    keys = of_type(synthesized.template(stage, "storage"), "AWS::KMS::Key").values()
    assert keys and all(k["Properties"]["EnableKeyRotation"] for k in keys)


def test_ecr_repositories_scan_on_push_with_immutable_tags(
    synthesized: Synthesized, stage: str
) -> None:
    repos = of_type(synthesized.template(stage, "storage"), "AWS::ECR::Repository").values()
    names = {r["Properties"]["RepositoryName"] for r in repos}
    assert names == {f"openmarket/{stage}/backend", f"openmarket/{stage}/frontend-web"}
    keep = stage_config(stage).storage.ecr_keep_last_images
    for repo in repos:
        props = repo["Properties"]
        assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert props["ImageTagMutability"] == "IMMUTABLE"
        policy = props["LifecyclePolicy"]["LifecyclePolicyText"]
        assert f'"countNumber":{keep}' in policy and '"imageCountMoreThan"' in policy


def test_staging_and_prod_keep_buckets_and_repositories(
    synthesized: Synthesized, stage: str
) -> None:
    template = synthesized.template(stage, "storage")
    stateful = {
        **of_type(template, "AWS::S3::Bucket"),
        **of_type(template, "AWS::ECR::Repository"),
        **of_type(template, "AWS::KMS::Key"),
    }
    expected = "Delete" if stage == "dev" else "Retain"
    assert {r["DeletionPolicy"] for r in stateful.values()} == {expected}
    assert {r["UpdateReplacePolicy"] for r in stateful.values()} == {expected}
    # Only dev empties buckets on delete (a CDK custom resource), never staging or prod.
    auto_delete = of_type(template, "Custom::S3AutoDeleteObjects")
    assert bool(auto_delete) == (stage == "dev")


def test_logs_bucket_accepts_alb_access_logs_only_under_its_prefix(
    synthesized: Synthesized, stage: str
) -> None:
    logical_id, _ = _bucket(synthesized, stage, "logs")
    policies = of_type(synthesized.template(stage, "storage"), "AWS::S3::BucketPolicy").values()
    (policy,) = [p for p in policies if ref_id(p["Properties"]["Bucket"]) == logical_id]
    (elb,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "600734575887" in json.dumps(s.get("Principal"))
    ]
    assert elb["Action"] == "s3:PutObject"
    assert f"/alb/AWSLogs/{PLACEHOLDER_ACCOUNT}/*" in json.dumps(elb["Resource"])


@pytest.mark.parametrize("source", ["uploads", "reports"])
def test_s3_log_delivery_is_granted_only_from_its_bucket_in_this_account(
    synthesized: Synthesized, stage: str, source: str
) -> None:
    """Compliance review: every logging.s3 grant names its source bucket and account, so no
    other bucket (another account's, in particular) can write into the logs bucket."""
    logical_id, _ = _bucket(synthesized, stage, "logs")
    policies = of_type(synthesized.template(stage, "storage"), "AWS::S3::BucketPolicy").values()
    (policy,) = [p for p in policies if ref_id(p["Properties"]["Bucket"]) == logical_id]
    deliveries = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    assert len(deliveries) == 2  # uploads and reports, nothing unconditioned besides
    (statement,) = [s for s in deliveries if f"/s3-access/{source}/*" in json.dumps(s["Resource"])]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": PLACEHOLDER_ACCOUNT}
    source_arn = statement["Condition"]["ArnLike"]["aws:SourceArn"]
    if source == "uploads":
        uploads_id, _ = _bucket(synthesized, stage, "uploads")
        assert ref_id(source_arn) == uploads_id
    else:
        assert source_arn == f"arn:aws:s3:::{stage_config(stage).names.reports_bucket_name}"
