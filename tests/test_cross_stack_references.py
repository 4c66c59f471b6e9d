"""No consumer stack keeps a stale value from a producer stack of its stage.

The CDK CLI deploys a stack only when its template (or parameters) changed. A weak reference
(``Fn::GetStackOutput``) is read when the consumer deploys: when only the producer's value
changes, the consumer's template does not, the CLI skips it, and it keeps the old value (a
NAT gateway id in the dashboard, the cache endpoint in a manifest). A strong reference
(``Fn::ImportValue`` of an ``Export``) cannot go stale: CloudFormation refuses to change an
exported value while a stack imports it, so the producer's deploy fails loudly instead.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from openmarket_cdk.app_builder import BUNDLING_CONTEXT_KEY
from openmarket_cdk.config import PLACEHOLDER_ACCOUNT, STAGE_NAMES, StageConfig, stage_config
from openmarket_cdk.stage import OpenMarketStage
from tests.conftest import STACK_KINDS, Synthesized, cdk_json_context


def _intrinsics(value: Any, name: str) -> list[Any]:
    if isinstance(value, dict):
        found = [value[name]] if name in value else []
        return found + [x for item in value.values() for x in _intrinsics(item, name)]
    if isinstance(value, list):
        return [x for item in value for x in _intrinsics(item, name)]
    return []


def _exports(templates: dict[str, dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    """Export name -> (producer kind, exported value)."""
    exports: dict[str, tuple[str, Any]] = {}
    for kind, template in templates.items():
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                exports[output["Export"]["Name"]] = (kind, output["Value"])
    return exports


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_cross_stack_value_is_a_strong_reference(
    synthesized: Synthesized, stage: str
) -> None:
    templates = {kind: synthesized.template(stage, kind) for kind in STACK_KINDS}
    exports = _exports(templates)
    imported = 0
    for kind, template in templates.items():
        assert _intrinsics(template, "Fn::GetStackOutput") == [], kind
        for name in _intrinsics(template, "Fn::ImportValue"):
            # Every import names an export of a stack of the same stage, deployed before.
            assert isinstance(name, str) and name in exports, (kind, name)
            assert exports[name][0] != kind
            imported += 1
    assert imported > 0


# --- a producer change, synthesized in a small separate app ---------------------------------
def _synth(config: StageConfig, outdir: Path) -> dict[str, dict[str, Any]]:
    context = cdk_json_context() | {BUNDLING_CONTEXT_KEY: [], "account": PLACEHOLDER_ACCOUNT}
    app = cdk.App(outdir=str(outdir), context=context)
    stage = OpenMarketStage(app, config)
    assembly = stage.synth()
    return {
        kind: assembly.get_stack_artifact(getattr(stage, kind).artifact_id).template
        for kind in STACK_KINDS
    }


def _references(value: Any) -> set[str]:
    return {str(v) for v in _intrinsics(value, "Ref")} | {
        str(v[0]) for v in _intrinsics(value, "Fn::GetAtt")
    }


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """Resources whose value may differ: changed themselves, or referring to one that did."""
    resources = after["Resources"]
    changed = {
        logical_id
        for logical_id, resource in resources.items()
        if before["Resources"].get(logical_id) != resource
    }
    grew = True
    while grew:
        grew = False
        for logical_id, resource in resources.items():
            if logical_id not in changed and _references(resource) & changed:
                changed.add(logical_id)
                grew = True
    return changed


def test_a_changed_producer_value_reaches_every_consumer(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    """New public subnets (so new NAT gateways) and a new cache node type: every consumer of
    a value that may change either gets a changed template or imports it strongly."""
    base = stage_config("dev")
    changed_config = replace(
        base,
        network=replace(base.network, public_subnet_cidrs=("10.0.3.0/24", "10.0.4.0/24")),
        cache=replace(base.cache, node_type="cache.t4g.small"),
    )
    # Before: dev as the session synthesized it (the same config); after: one more stage synth.
    before = {kind: synthesized.template("dev", kind) for kind in STACK_KINDS}
    after = _synth(changed_config, tmp_path / "after")
    exports = _exports(after)
    changed = {kind: _changed(before[kind], after[kind]) for kind in STACK_KINDS}
    assert changed["network"] and changed["data"]
    checked = 0
    for kind in STACK_KINDS:
        if after[kind] != before[kind]:
            continue  # the CLI deploys it: its references are read again
        # Unchanged template: every value from a changed producer resource must be strong.
        assert _intrinsics(after[kind], "Fn::GetStackOutput") == [], kind
        for name in _intrinsics(after[kind], "Fn::ImportValue"):
            producer, value = exports[name]
            if _references(value) & changed[producer]:
                checked += 1
    # The observability stack reads the NAT gateway ids and nothing else of it changed.
    assert after["observability"] == before["observability"]
    assert checked > 0
