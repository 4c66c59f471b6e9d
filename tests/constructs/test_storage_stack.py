"""The storage stack on a bare app, for both answers to "does this stage keep its data?":
buckets and repositories are retained and never emptied, or deleted and emptied with it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aws_cdk.assertions import Template

from openmarket_cdk.config import stage_config
from openmarket_cdk.stacks.storage import StorageStack
from tests.constructs.bare import bare_app, environment

KEPT_TYPES = ("AWS::S3::Bucket", "AWS::ECR::Repository")


@pytest.mark.parametrize("retain", [True, False], ids=["kept", "disposable"])
def test_buckets_and_repositories_follow_retain_on_delete(retain: bool) -> None:
    config = replace(stage_config("dev"), retain_on_delete=retain)
    stack = StorageStack(bare_app(), "Storage", config=config, env=environment(config))
    template = Template.from_stack(stack)
    kept = [resource for kind in KEPT_TYPES for resource in template.find_resources(kind).values()]
    assert {r["Type"] for r in kept} == set(KEPT_TYPES)
    expected = "Retain" if retain else "Delete"
    assert {(r["DeletionPolicy"], r["UpdateReplacePolicy"]) for r in kept} == {(expected, expected)}
    emptied = template.find_resources("Custom::S3AutoDeleteObjects")
    assert (len(emptied) > 0) is not retain
