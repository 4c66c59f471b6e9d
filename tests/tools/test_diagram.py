"""tools/diagram.py (``make diagram``) reads the session's assembly and draws what SPEC names.

Checks the Graphviz source only; rendering it to PNG needs the graphviz package and is left
to ``make diagram``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from openmarket_cdk.config import STAGE_NAMES, stage_config
from tests.conftest import Synthesized
from tools.assembly import load_stage
from tools.diagram import Diagram, Node, build, main, to_dot


@pytest.fixture(scope="module")
def diagrams(synthesized: Synthesized) -> dict[str, Diagram]:
    return {stage: build(load_stage(synthesized.outdir, stage)) for stage in STAGE_NAMES}


def find(diagram: Diagram, kind: str, text: str = "") -> Node:
    [node] = [n for n in diagram.nodes.values() if n.kind == kind and text in "\n".join(n.lines)]
    return node


def labels(diagram: Diagram, source: Node | str, target: Node) -> set[str]:
    source_id = source if isinstance(source, str) else source.id
    assert (source_id, target.id) in diagram.edges, f"no edge {source_id} -> {target.id}"
    return diagram.edges[(source_id, target.id)]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_one_box_per_stack(
    diagrams: dict[str, Diagram], synthesized: Synthesized, stage: str
) -> None:
    dot = to_dot(diagrams[stage])
    stacks = {name for (s, _), name in synthesized.stack_names.items() if s == stage}
    for name in stacks:
        assert f'label="{name}"' in dot


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_request_path_is_drawn(diagrams: dict[str, Diagram], stage: str) -> None:
    diagram = diagrams[stage]
    alb = find(diagram, "alb", f"openmarket-{stage}-alb")
    # From anywhere (behind the WAF), or from the listed ranges only (dev).
    from_users = labels(diagram, "n_internet", alb)
    if stage_config(stage).alb_is_restricted:
        assert from_users == {
            f"tcp {port} from {cidr}"
            for cidr in stage_config(stage).network.alb_ingress_cidrs
            for port in (80, 443)
        }
    else:
        assert from_users >= {"tcp 80"}
    assert labels(diagram, alb, find(diagram, "workload", "backend")) == {"/api :3001"}
    assert labels(diagram, alb, find(diagram, "workload", "frontend")) == {"/ :3000"}
    nodes = find(diagram, "nodegroup")
    assert labels(diagram, nodes, find(diagram, "database", "Aurora MySQL")) == {"tcp 3306"}
    assert labels(diagram, nodes, find(diagram, "cache", "Valkey")) == {"tcp 6379"}


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_the_function_triggers_are_drawn(diagrams: dict[str, Diagram], stage: str) -> None:
    diagram = diagrams[stage]
    uploads = find(diagram, "bucket", "uploads")
    assert labels(diagram, uploads, find(diagram, "function", "image-processor")) == {
        "object created"
    }
    bus = find(diagram, "bus", "orders")
    assert labels(diagram, bus, find(diagram, "function", "order-notification")) == {"OrderCreated"}
    for name in ("report-generator", "data-sync"):
        schedules = [
            source
            for (source, target) in diagram.edges
            if target == find(diagram, "function", name).id
            and diagram.nodes[source].kind == "schedule"
        ]
        assert len(schedules) == 1


def test_stage_differences_show(diagrams: dict[str, Diagram]) -> None:
    assert "NAT instance" in find(diagrams["dev"], "nat").lines[0]
    assert find(diagrams["prod"], "nat").lines == ["NAT gateway x2"]
    assert "Serverless v2" in "\n".join(find(diagrams["dev"], "database").lines)
    prod_aurora = "\n".join(find(diagrams["prod"], "database").lines)
    assert "writer db.t4g.medium 2a" in prod_aurora and "reader db.t4g.medium 2c" in prod_aurora


def test_dot_is_deterministic_and_names_no_account(
    diagrams: dict[str, Diagram], synthesized: Synthesized
) -> None:
    again = build(load_stage(synthesized.outdir, "prod"))
    assert to_dot(again) == to_dot(diagrams["prod"])
    assert "000000000000" not in to_dot(diagrams["prod"])


def test_a_missing_assembly_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--cdk-out", str(tmp_path / "nowhere"), "--dot", str(tmp_path / "a.dot")])
    assert "make synth" in str(exit_info.value.code)
    assert not (tmp_path / "a.dot").exists()
