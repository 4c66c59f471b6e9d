"""Every pinned version is written once, in openmarket_cdk/config/pins.py: no other module
of the app spells it, so a bump is one line and no copy is left behind."""

from __future__ import annotations

import ast
from pathlib import Path

from openmarket_cdk.config import pins
from tests.conftest import ROOT

APP = ROOT / "openmarket_cdk"
PINS_FILE = Path(pins.__file__).resolve()


def pinned_values() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(pins).items()
        if name.isupper() and isinstance(value, str)
    }


def string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_every_version_is_written_once() -> None:
    values = set(pinned_values().values())
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted(APP.rglob("*.py"))
        if path.resolve() != PINS_FILE
        for line, text in string_literals(path)
        if text in values
    ]
    assert found == []


def test_the_check_sees_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "copy.py"
    copy.write_text(f'CHART = "{pins.KUBE_PROMETHEUS_STACK_CHART}"\n')
    assert (1, pins.KUBE_PROMETHEUS_STACK_CHART) in string_literals(copy)


def test_the_table_holds_versions() -> None:
    values = pinned_values()
    assert len(values) >= 15
    for name, value in values.items():
        assert any(ch.isdigit() for ch in value), name
