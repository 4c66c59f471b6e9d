"""The function folders share one import path in the tests: their module names must not clash.

Each ``functions/<name>/`` folder is a Lambda bundle whose modules import each other by name
(``from thumbnail_processor import ...``), as the Lambda runtime does with the bundle root on its
path. The tests import them the same way: pyproject.toml lists every folder in pytest's
``pythonpath``, so no test edits ``sys.path``. That is only sound while no two folders (nor the
shared test helpers in tests/functions) have a module of the same name, and no such module
shadows the standard library or an installed package. ``index.py`` is the exception: every
function has one (the CDK construct's handler is ``index.handler``), so tests load it by file
path under a name of their own (``importlib.util.spec_from_file_location``).
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIRS = sorted(p for p in (ROOT / "functions").iterdir() if p.is_dir())
HELPERS_DIR = Path(__file__).resolve().parent
LOADED_BY_PATH = "index"


def _top_level_modules(folder: Path) -> set[str]:
    """Names `import <name>` would find in `folder`: modules, packages, namespace packages."""
    names = {p.stem for p in folder.glob("*.py")}
    names |= {
        p.name
        for p in folder.iterdir()
        if p.is_dir() and p.name.isidentifier() and p.name != "__pycache__"
    }
    return names


def _helper_modules() -> set[str]:
    return {
        p.stem
        for p in HELPERS_DIR.glob("*.py")
        if not p.name.startswith("test_") and p.name != "conftest.py"
    }


def test_every_function_folder_and_the_helpers_are_on_pytests_pythonpath(
    pytestconfig: pytest.Config,
) -> None:
    configured = {Path(p).resolve() for p in pytestconfig.getini("pythonpath")}
    expected = {p.resolve() for p in FUNCTION_DIRS} | {HELPERS_DIR}
    assert configured == expected, "pyproject.toml [tool.pytest.ini_options] pythonpath"
    for folder in expected:
        assert str(folder) in sys.path


def test_module_names_are_unique_across_functions_and_test_helpers() -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for folder in FUNCTION_DIRS:
        for name in _top_level_modules(folder) - {LOADED_BY_PATH}:
            owners[name].append(f"functions/{folder.name}")
    for name in _helper_modules():
        owners[name].append("tests/functions")
    clashes = {name: where for name, where in owners.items() if len(where) > 1}
    assert clashes == {}, f"module names used twice (rename one): {clashes}"


def test_index_modules_are_never_imported_by_name() -> None:
    """Whichever folder comes first on the path would win: tests load index.py by file path."""
    assert LOADED_BY_PATH not in sys.modules


def test_function_modules_shadow_nothing_installed() -> None:
    installed = importlib.metadata.packages_distributions()
    names = {name for folder in FUNCTION_DIRS for name in _top_level_modules(folder)}
    names |= _helper_modules()
    shadowed = sorted(n for n in names if n in sys.stdlib_module_names or n in installed)
    assert shadowed == [], f"these would hide a stdlib or installed module: {shadowed}"
