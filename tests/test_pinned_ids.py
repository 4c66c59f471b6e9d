"""The logical IDs of stateful and identity-bearing resources never change.

CloudFormation replaces a resource whose logical ID changes: a new cluster, an empty
database, a new bucket name, a new key (and data encrypted with the old one stranded), a
secret with a new value, a log group without its history, a new OIDC provider. So refactoring
code must not move these resources in the construct tree without keeping their IDs.
``tests/pinned_logical_ids.json`` holds, per stage and stack, the IDs of every resource of the
pinned types as synthesized from main before the one-way-flow refactor (2026-11-30); a new
stateful resource must be added there in the commit that creates it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT_STACKS, STACK_KINDS, Synthesized

PINNED_FILE = Path(__file__).with_name("pinned_logical_ids.json")
PINNED: dict[str, Any] = json.loads(PINNED_FILE.read_text())
PINNED_TYPES: frozenset[str] = frozenset(PINNED["types"])


def stateful(template: dict[str, Any]) -> dict[str, str]:
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in PINNED_TYPES
    }


def compare(where: str, pinned: dict[str, str], actual: dict[str, str]) -> list[str]:
    problems = [
        f"{where}: {logical_id} ({kind}) is gone or renamed: deploying would replace it"
        for logical_id, kind in pinned.items()
        if actual.get(logical_id) != kind
    ]
    problems += [
        f"{where}: {logical_id} ({kind}) is new: pin it in {PINNED_FILE.name}"
        for logical_id, kind in actual.items()
        if logical_id not in pinned
    ]
    return problems


@pytest.mark.parametrize("stage", sorted(set(PINNED["ids"]) - {"account"}))
def test_stateful_logical_ids_are_pinned(synthesized: Synthesized, stage: str) -> None:
    problems: list[str] = []
    for kind in STACK_KINDS:
        pinned = PINNED["ids"][stage].get(kind, {})
        problems += compare(f"{stage}/{kind}", pinned, stateful(synthesized.template(stage, kind)))
    assert not problems, "\n".join(problems)


def test_account_stacks_logical_ids_are_pinned(synthesized: Synthesized) -> None:
    problems: list[str] = []
    for kind in ACCOUNT_STACKS:
        pinned = PINNED["ids"]["account"].get(kind, {})
        actual = stateful(synthesized.account_templates[kind])
        problems += compare(f"account/{kind}", pinned, actual)
    assert not problems, "\n".join(problems)


def test_the_pin_covers_every_stage_and_the_main_stateful_kinds() -> None:
    assert set(PINNED["ids"]) == {"dev", "staging", "prod", "account"}
    pinned_kinds = {
        kind for stage in PINNED["ids"].values() for ids in stage.values() for kind in ids.values()
    }
    for required in (
        "AWS::EKS::Cluster",
        "AWS::EKS::Nodegroup",
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::SecretsManager::Secret",
        "AWS::Logs::LogGroup",
        "AWS::DynamoDB::GlobalTable",
        "AWS::ECR::Repository",
        "AWS::Events::EventBus",
    ):
        assert required in pinned_kinds, required
