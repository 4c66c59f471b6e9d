"""Every operator target on a machine without AWS credentials or network: one line that says
what is missing and where to set it, a non-zero exit, no Python traceback, no retry loop."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_preflight import without_aws


@pytest.fixture(scope="module")
def bare_machine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No credentials, no profile, and a `docker` and `aws` that never answer (as here: a
    Docker client without an engine, no network)."""
    bin_dir = tmp_path_factory.mktemp("bare-bin")
    for tool in ("docker", "aws"):
        (bin_dir / tool).write_text('#!/bin/sh\necho "$0: cannot connect" >&2\nexit 1\n')
        (bin_dir / tool).chmod(0o755)
    env = without_aws()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.pop("CI", None)
    env.pop("CDK_ARGS", None)
    return env


# The install stamps are taken as up to date (`make -o`): a stale one would have two pytest
# workers run `pip install` and `npm ci` into the same .venv and node_modules at once.
# `make test` brings them up to date before pytest starts.
SETUP_STAMPS = (".venv/.installed-stamp", "node_modules/.installed-stamp")


def make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    keep = [option for stamp in SETUP_STAMPS for option in ("-o", stamp)]
    return subprocess.run(
        ["make", "--no-print-directory", *keep, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        # A bound against hangs: each of these answers in about a second.
        timeout=60,
        check=False,
    )


def our_lines(stderr: str) -> list[str]:
    """stderr without make's own '*** [target] Error' lines and npm's config notice."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith(("make: ***", "make[", "npm warn"))
    ]


NO_CREDENTIALS = "no AWS credentials found"
TARGETS: list[tuple[tuple[str, ...], str]] = [
    (("wake", "STAGE=dev"), f"make wake STAGE=dev: {NO_CREDENTIALS}"),
    (("url", "STAGE=dev"), f"make url STAGE=dev: {NO_CREDENTIALS}"),
    (("url", "STAGE=prod"), "make url STAGE=prod: prod's domain shop.openmarket.example is a "
     "placeholder"),
    (("smoke", "STAGE=prod"), "make smoke STAGE=prod: prod's domain shop.openmarket.example is "
     "a placeholder"),
    (("smoke", "STAGE=dev"), f"make smoke STAGE=dev (open access): {NO_CREDENTIALS}"),
    (("snapshot", "STAGE=prod"), f"make snapshot STAGE=prod: {NO_CREDENTIALS}"),
    (("destroy", "STAGE=dev"), f"make destroy STAGE=dev: {NO_CREDENTIALS}"),
    (("diff", "STAGE=dev"), f"make diff STAGE=dev: {NO_CREDENTIALS}"),
    (("deploy-registries", "STAGE=dev"), f"make deploy-registries STAGE=dev: {NO_CREDENTIALS}"),
    (("deploy-access",), f"make deploy-access: {NO_CREDENTIALS}"),
    (("deploy-audit",), f"make deploy-audit: {NO_CREDENTIALS}"),
    (("bootstrap",), f"make bootstrap: {NO_CREDENTIALS}"),
    (("kubectl", "STAGE=prod"), f"make kubectl STAGE=prod: {NO_CREDENTIALS}"),
    (("slack-webhooks", "STAGE=prod"), f"make slack-webhooks STAGE=prod: {NO_CREDENTIALS}"),
    (("synth", "STAGE=qa"), "STAGE=qa is not one of: dev staging prod"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "expected"), TARGETS, ids=[" ".join(a) for a, _ in TARGETS])
def test_each_target_fails_with_one_clear_line(
    bare_machine: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    result = make(bare_machine, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = our_lines(result.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines[0]


def test_deploy_lists_the_placeholders_before_anything_else(bare_machine: dict[str, str]) -> None:
    result = make(bare_machine, "deploy", "STAGE=prod")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = our_lines(result.stderr)
    assert all(line.startswith("make preflight STAGE=prod: ") for line in lines)
    assert "Docker" not in result.stderr  # refused before the next check


def test_deploy_with_real_values_stops_at_the_credentials(bare_machine: dict[str, str]) -> None:
    from tests.test_preflight import REAL

    result = make(bare_machine, "deploy", "STAGE=prod", f"CDK_ARGS={' '.join(REAL)}")
    assert our_lines(result.stderr) == [
        f"make preflight STAGE=prod: account checks not run: {NO_CREDENTIALS}: sign in (aws "
        "sso login, AWS_PROFILE, or the deploy role's OIDC session in CI) and run it again"
    ]


def test_a_bad_context_value_fails_synth_with_the_field_and_no_traceback(
    bare_machine: dict[str, str],
) -> None:
    result = subprocess.run(
        [str(Path(ROOT, ".venv/bin/python")), "app.py"],
        cwd=ROOT,
        env={
            **bare_machine,
            "CDK_CONTEXT_JSON": '{"stages": "dev", "office_cidrs": "10.0.0.300/24"}',
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "synth refused: stage config field 'network.alb_ingress_cidrs[0]': '10.0.0.300/24' is "
        "not a valid IPv4 network (Octet 300 (> 255) not permitted in '10.0.0.300')"
    )


def test_the_stamps_kept_up_to_date_are_the_makefiles() -> None:
    """`make -o` with a name make does not know would keep nothing: the names must match."""
    printed = subprocess.run(
        ["make", "--no-print-directory", "-pn", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assigned = {
        name: value
        for name, _, value in (line.partition(" := ") for line in printed.splitlines())
        if name in ("STAMP", "NODE_STAMP")
    }
    assert set(assigned.values()) == set(SETUP_STAMPS)
