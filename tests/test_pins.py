"""Every pinned version is written once, in openmarket_cdk/config/pins.py: no other module
of the app spells it, so a bump is one line and no copy is left behind."""

from __future__ import annotations

import ast
import re
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


def version_words(versions: set[str]) -> re.Pattern[str]:
    """Each version (an image's tag too) standing as a word: not inside a longer version."""
    return re.compile(
        "|".join(rf"(?<![\w.]){re.escape(v)}(?![\w.])" for v in sorted(versions, key=len)[::-1])
    )


def version_mentions(path: Path, words: re.Pattern[str]) -> list[tuple[int, str]]:
    """Every version of ``words`` anywhere in the text: comments and docstrings as well,
    which would go stale at the first bump."""
    return [
        (number, match.group(0))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in words.finditer(line)
    ]


def pinned_versions() -> set[str]:
    """The pins and the tags of the pinned images (``quay.io/...:v3.13.3`` -> ``v3.13.3``)."""
    values = set(pinned_values().values())
    return values | {value.rsplit(":", 1)[1] for value in values if ":" in value}


def test_no_comment_repeats_a_version() -> None:
    """Prose points at config/pins.py instead of naming the version it would leave behind."""
    words = version_words(pinned_versions())
    found = [
        f"{path.relative_to(ROOT)}:{line}: {version}"
        for path in sorted(APP.rglob("*.py"))
        if path.resolve() != PINS_FILE
        for line, version in version_mentions(path, words)
    ]
    assert found == [], "name config/pins.py instead of the version"


def test_the_text_check_sees_a_version_in_a_comment(tmp_path: Path) -> None:
    text = tmp_path / "comment.py"
    tag = pins.PROMETHEUS_IMAGE.rsplit(":", 1)[1]
    text.write_text(f"# chart {pins.EXTERNAL_DNS_CHART} with Prometheus {tag}\nX = 'v{tag}1'\n")
    assert version_mentions(text, version_words(pinned_versions())) == [
        (1, pins.EXTERNAL_DNS_CHART),
        (1, tag),
    ]


def test_the_check_sees_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "copy.py"
    copy.write_text(f'CHART = "{pins.KUBE_PROMETHEUS_STACK_CHART}"\n')
    assert (1, pins.KUBE_PROMETHEUS_STACK_CHART) in string_literals(copy)


def test_the_table_holds_versions() -> None:
    values = pinned_values()
    assert len(values) >= 15
    for name, value in values.items():
        assert any(ch.isdigit() for ch in value), name
