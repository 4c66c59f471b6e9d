"""Bare stacks: one stack in an app of its own, with the feature flags of cdk.json, so a
construct or stack is tested without synthesizing the whole app (`make test-fast` runs these;
the full app's templates are the gate's)."""

from __future__ import annotations

import aws_cdk as cdk

from openmarket_cdk.app_builder import BUNDLING_CONTEXT_KEY
from openmarket_cdk.config import StageConfig
from tests.conftest import cdk_json_context


def bare_app() -> cdk.App:
    return cdk.App(context=cdk_json_context() | {BUNDLING_CONTEXT_KEY: []})


def environment(config: StageConfig) -> cdk.Environment:
    return cdk.Environment(account=config.account, region=config.region)


def bare_stack(config: StageConfig) -> cdk.Stack:
    """An empty stack in the stage's account and region, in an app of its own."""
    return cdk.Stack(bare_app(), "Bare", env=environment(config))
