"""The post-synth tools stay apart from the CDK package, as the original design's layout says.

``openmarket_cdk`` never imports ``tools`` (the app must synthesize without them), and
``tools`` never imports the CDK, cdk8s or constructs (they read JSON, so they run without
jsii or Node.js); the stage configs are the one thing both share.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT


def imported_modules(package: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                yield path, node.module


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("openmarket_cdk", ("tools",)),
        ("tools", ("aws_cdk", "cdk8s", "cdk8s_plus_28", "constructs", "charts")),
    ],
)
def test_no_import_crosses_the_boundary(package: str, forbidden: tuple[str, ...]) -> None:
    crossing = [
        f"{path.relative_to(ROOT)}: {module}"
        for path, module in imported_modules(ROOT / package)
        if module.split(".")[0] in forbidden
    ]
    assert not crossing, crossing


def test_the_tools_read_only_the_config_of_the_cdk_package() -> None:
    """The stage configs, and stage sleep's event contract (what its schedules say sleeps):
    plain Python both, no CDK."""
    used = {module for _, module in imported_modules(ROOT / "tools")}
    assert {m for m in used if m.split(".")[0] == "openmarket_cdk"} <= {
        "openmarket_cdk.config",
        "openmarket_cdk.config.quantities",
        "openmarket_cdk.stage_sleep.runtime.contract",
    }


def test_the_charts_read_only_the_config_of_the_cdk_package() -> None:
    """The charts import no CDK (cdk8s only) and, of the CDK package, only the stage
    config's plain types (the monitoring section's per-component settings): values still
    flow down from config, never back up."""
    used = list(imported_modules(ROOT / "charts"))
    assert not [f"{p}: {m}" for p, m in used if m.split(".")[0] == "aws_cdk"]
    assert {m for _, m in used if m.split(".")[0] == "openmarket_cdk"} <= {
        "openmarket_cdk.config",
        "openmarket_cdk.config.quantities",
    }


# A stack reads as a short list of named parts; no module of the app is a room of several.
STACK_MODULE_MAX_LINES = 300
APP_MODULE_MAX_LINES = 500


def test_stacks_and_app_modules_stay_short() -> None:
    app = ROOT / "openmarket_cdk"
    too_long = [
        f"{path.relative_to(ROOT)}: {lines} lines (at most {limit})"
        for path in sorted(app.rglob("*.py"))
        for lines in [len(path.read_text().splitlines())]
        for limit in [
            STACK_MODULE_MAX_LINES if path.parent == app / "stacks" else APP_MODULE_MAX_LINES
        ]
        if lines > limit
    ]
    assert too_long == []
