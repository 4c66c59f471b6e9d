"""tools/diagram.py (``make diagram``) reads the session's assembly and draws what the original
design names.

Checks the Graphviz source, and that the committed docs/architecture.dot is what the tool
draws from this session's assembly (and docs/architecture.png was rendered from it). The
PNG itself needs the graphviz package: ``make diagram`` regenerates both. Writing is tested
with a stand-in ``dot``: nothing is written when it is missing or fails.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

import pytest

from openmarket_cdk.config import STAGE_NAMES, stage_config
from tests.conftest import ROOT, Synthesized
from tools.assembly import load_stage
from tools.diagram import (
    DEFAULT_DOT,
    DEFAULT_PNG,
    DEFAULT_STAGE,
    Diagram,
    DiagramError,
    Node,
    build,
    main,
    png_source_digest,
    to_dot,
    with_source_digest,
    write_outputs,
)

REGENERATE = (
    "run `make diagram` (needs graphviz: apt-get install graphviz) and commit "
    "docs/architecture.dot and docs/architecture.png"
)


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


# --- the committed diagram -------------------------------------------------------------------


def test_the_committed_dot_is_what_the_tool_draws(diagrams: dict[str, Diagram]) -> None:
    committed = (ROOT / DEFAULT_DOT).read_text(encoding="utf-8")
    drawn = to_dot(diagrams[DEFAULT_STAGE])
    assert committed == drawn, f"{DEFAULT_DOT} is stale: {REGENERATE}"


def test_the_committed_png_was_rendered_from_the_committed_dot() -> None:
    committed = (ROOT / DEFAULT_DOT).read_text(encoding="utf-8")
    digest = png_source_digest((ROOT / DEFAULT_PNG).read_bytes())
    assert digest == hashlib.sha256(committed.encode()).hexdigest(), (
        f"{DEFAULT_PNG} was not rendered from {DEFAULT_DOT}: {REGENERATE}"
    )


# --- writing: all or nothing -----------------------------------------------------------------

# The smallest PNG a stand-in ``dot`` writes: signature, a 1x1 header, an empty image end.
TINY_PNG = (
    b"\x89PNG\r\n\x1a\n"
    + bytes.fromhex("0000000d49484452000000010000000108060000001f15c489")
    + bytes.fromhex("0000000049454e44ae426082")
)


def fake_dot(directory: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """A ``dot`` on PATH (and only it) that runs ``body`` (Python) with dot's arguments."""
    directory.mkdir()
    script = directory / "dot"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(directory))


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, Path]:
    """An earlier pair of outputs, which a failed run must leave as it was."""
    dot, png = tmp_path / "out" / "architecture.dot", tmp_path / "out" / "architecture.png"
    dot.parent.mkdir()
    dot.write_text("old dot")
    png.write_bytes(b"old png")
    return dot, png


def unchanged(dot: Path, png: Path) -> bool:
    leftovers = sorted(p.name for p in dot.parent.iterdir())
    return (
        dot.read_text() == "old dot"
        and png.read_bytes() == b"old png"
        and leftovers == ["architecture.dot", "architecture.png"]
    )


def test_a_missing_dot_writes_nothing_and_says_what_is_missing(
    synthesized: Synthesized,
    previous: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    dot, png = previous
    argv = ["--cdk-out", str(synthesized.outdir), "--dot", str(dot), "--png", str(png)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    message = str(exit_info.value.code)
    assert message.startswith("diagram: ") and "\n" not in message
    assert "graphviz" in message and "nothing was written" in message
    assert unchanged(dot, png)


def test_a_failing_dot_writes_nothing_and_reports_its_error(
    previous: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dot(
        tmp_path / "bin",
        monkeypatch,
        'open(sys.argv[-1], "wb").write(b"half")\n'
        'sys.stderr.write("Error: <stdin>: syntax error in line 3\\n")\nsys.exit(1)',
    )
    dot, png = previous
    with pytest.raises(DiagramError, match=r"failed \(exit 1\): Error: <stdin>: syntax error"):
        write_outputs("digraph { a -> b }\n", dot, png)
    assert unchanged(dot, png)


def test_a_dot_that_writes_no_png_writes_nothing(
    previous: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dot(tmp_path / "bin", monkeypatch, 'open(sys.argv[-1], "wb").write(b"not a png")')
    dot, png = previous
    with pytest.raises(DiagramError, match="did not write a PNG"):
        write_outputs("digraph { a -> b }\n", dot, png)
    assert unchanged(dot, png)


def test_success_moves_both_into_place_with_the_source_digest(
    previous: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dot(
        tmp_path / "bin",
        monkeypatch,
        f"sys.stdin.read()\nopen(sys.argv[-1], 'wb').write({TINY_PNG!r})",
    )
    dot, png = previous
    source = 'digraph { a -> b [label="…"] }\n'
    assert write_outputs(source, dot, png) == [dot, png]
    assert dot.read_bytes() == source.encode("utf-8")
    assert png_source_digest(png.read_bytes()) == hashlib.sha256(source.encode()).hexdigest()
    assert sorted(p.name for p in dot.parent.iterdir()) == ["architecture.dot", "architecture.png"]
    assert oct(dot.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_dot_only_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    target = tmp_path / "new" / "a.dot"
    assert write_outputs("digraph {}\n", target) == [target]
    assert target.read_text() == "digraph {}\n"


def test_the_source_digest_survives_in_the_png() -> None:
    tagged = with_source_digest(TINY_PNG, "digraph {}\n")
    assert tagged.startswith(TINY_PNG[:33]) and tagged.endswith(TINY_PNG[33:])
    assert png_source_digest(tagged) == hashlib.sha256(b"digraph {}\n").hexdigest()
    assert png_source_digest(TINY_PNG) is None
    with pytest.raises(DiagramError):
        with_source_digest(b"GIF89a", "digraph {}\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
