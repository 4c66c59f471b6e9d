"""The functions' metrics namespace is defined once, on the app side, and read from the environment.

``openmarket_cdk.config.METRICS_NAMESPACE`` (config/facts.py) is the only definition: the
construct passes it to every function as ``POWERTOOLS_METRICS_NAMESPACE`` and the alarms on the
functions' metrics import it. No function source spells it, so the two sides cannot drift
apart: Powertools' ``Metrics()`` reads the variable by itself, and what publishes single
metrics gets it from the function's settings, which require it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from function_env import CONSTRUCT_ENV, METRICS_NAMESPACE, METRICS_NAMESPACE_ENV

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
FUNCTION_DIRS = sorted(p for p in FUNCTIONS_DIR.iterdir() if p.is_dir())
SOURCES = sorted(FUNCTIONS_DIR.rglob("*.py"))
# The same word, not the namespace: the brand in the order e-mails (file, assigned name).
NOT_THE_NAMESPACE = {("order-notification/order_messages.py", "BRAND")}


def _spells_the_namespace(value: object) -> bool:
    return isinstance(value, str) and (
        value == METRICS_NAMESPACE or value.startswith(f"{METRICS_NAMESPACE}/")
    )


def test_function_sources_are_found() -> None:
    assert {p.name for p in FUNCTION_DIRS} == {
        "data-sync",
        "image-processor",
        "order-notification",
        "report-generator",
    }
    assert all((d / "index.py") in SOURCES for d in FUNCTION_DIRS)


def test_no_function_source_spells_the_metrics_namespace() -> None:
    spelled: list[str] = []
    allowed: set[tuple[str, str]] = set()
    for path in SOURCES:
        rel = path.relative_to(FUNCTIONS_DIR).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        exempt: set[int] = set()
        for node in ast.walk(tree):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            value = getattr(node, "value", None)
            for target in targets:
                if (
                    isinstance(target, ast.Name)
                    and (rel, target.id) in NOT_THE_NAMESPACE
                    and isinstance(value, ast.Constant)
                ):
                    exempt.add(id(value))
                    allowed.add((rel, target.id))
        spelled += [
            f"{rel}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and _spells_the_namespace(node.value)
            and id(node) not in exempt
        ]
    assert spelled == [], (
        f"the metrics namespace is spelled in function code; read {METRICS_NAMESPACE_ENV} "
        "(set by openmarket_cdk/constructs/function.py) instead"
    )
    assert allowed == NOT_THE_NAMESPACE, "stale exemption: update NOT_THE_NAMESPACE"


def test_no_function_gives_powertools_metrics_a_namespace() -> None:
    """``Metrics()`` without ``namespace`` reads POWERTOOLS_METRICS_NAMESPACE; ``single_metric``
    gets it from the settings, never from a constant."""
    offending: list[str] = []
    for path in SOURCES:
        rel = path.relative_to(FUNCTIONS_DIR).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            for keyword in node.keywords:
                if keyword.arg != "namespace":
                    continue
                if name == "Metrics" or isinstance(keyword.value, ast.Constant):
                    offending.append(f"{rel}:{node.lineno}: {name}(namespace=...)")
    assert offending == []


# Loads every index.py in a fresh interpreter (no Logger or Metrics state shared with the other
# tests) with another namespace in the environment, and flushes one metric from each. The
# function folders are on its PYTHONPATH, as in pytest (module names are unique across them).
_PROBE = """
import importlib.util, json, sys
from pathlib import Path
out = {}
for folder in map(Path, sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"probe_{folder.name}", folder / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.metrics.add_metric(name="Probe", unit="Count", value=1)
    out[folder.name] = module.metrics.serialize_metric_set()
    module.metrics.clear_metrics()
print(json.dumps(out))
"""


def test_every_function_publishes_into_the_namespace_of_its_environment() -> None:
    namespace = "Elsewhere/Probe"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, FUNCTION_DIRS)],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.pathsep.join(map(str, FUNCTION_DIRS)),
            "AWS_DEFAULT_REGION": "ap-northeast-2",
            METRICS_NAMESPACE_ENV: namespace,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    emitted = json.loads(result.stdout.splitlines()[-1])
    assert {
        name: [d["Namespace"] for d in emf["_aws"]["CloudWatchMetrics"]]
        for name, emf in emitted.items()
    } == {d.name: [namespace] for d in FUNCTION_DIRS}


def test_data_sync_refuses_a_missing_namespace_at_cold_start() -> None:
    import inventory_sync

    required = {"DB_SECRET_ARN": "x", "REDIS_HOST": "x", "REDIS_SECRET_ARN": "x"}
    with pytest.raises(inventory_sync.SyncConfigError, match=METRICS_NAMESPACE_ENV):
        inventory_sync.SyncSettings.from_env(required)
    assert inventory_sync.SyncSettings.from_env(required | CONSTRUCT_ENV).redis_host == "x"


def test_report_generator_refuses_a_missing_namespace_at_cold_start() -> None:
    import sales_report

    required = {"REPORTS_BUCKET": "b", "DB_SECRET_ARN": "arn"}
    with pytest.raises(sales_report.ReportConfigError, match=METRICS_NAMESPACE_ENV):
        sales_report.ReportSettings.from_env(required)
    assert sales_report.ReportSettings.from_env(required | CONSTRUCT_ENV).reports_bucket == "b"
