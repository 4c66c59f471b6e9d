"""make kubectl STAGE=<stage> [CMD='-n openmarket-prod get pods']: a working kubectl against the
stage's cluster, as the platform admin role, with no inbound port anywhere.

- A private endpoint (staging, prod): a Session Manager port-forwarding session
  (``AWS-StartPortForwardingSessionToRemoteHost``) through the stage's cluster access
  instance (found by its ``openmarket:cluster-access`` tag) to the endpoint's host on 443,
  from a free local port; the kubeconfig points at ``https://127.0.0.1:<port>`` and checks
  the API server's certificate against the endpoint's own name (``tls-server-name``).
- A public endpoint limited to office ranges (dev): straight to the endpoint.

The kubeconfig (mode 600, in a temporary folder removed afterwards) authenticates with
``aws eks get-token --role-arn <platform admin role>``: short-lived tokens from the operator's
own sign-in, no stored credential. With ``CMD`` it runs that one kubectl command; without, it
opens a shell whose ``kubectl`` (and helm, k9s...) talk to the cluster, until ``exit``.
Needs the AWS CLI, kubectl and, for a private endpoint, the Session Manager plugin.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from openmarket_cdk.config import CLUSTER_ACCESS_TAG, StageConfig
from scripts.aws_access import OperatorError, client, require_credentials, run
from scripts.cli_config import stage_config_from_cli
from scripts.require import SESSION_MANAGER_PLUGIN_DOCS

FORWARDING_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
# Session Manager needs a few seconds to open the session and the local listener.
TUNNEL_READY_TIMEOUT_S = 45.0


def needs_tunnel(config: StageConfig) -> bool:
    """A stage without public endpoint ranges has a private endpoint only."""
    return not config.kubernetes.public_endpoint_cidrs


def access_instance_id(config: StageConfig, ec2: Any) -> str:
    """The running cluster access instance of the stage (by tag)."""
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{CLUSTER_ACCESS_TAG}", "Values": [config.name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        raise OperatorError(
            f"no running instance tagged {CLUSTER_ACCESS_TAG}={config.name}: is the cluster "
            f"stack deployed ({config.names.stack_name('cluster')})?"
        )
    # After a replacement both may run for a moment: the newest.
    newest = max(instances, key=lambda i: i["LaunchTime"])
    return str(newest["InstanceId"])


def kubeconfig(
    config: StageConfig,
    *,
    server: str,
    certificate_authority: str,
    tls_server_name: str | None,
    role_arn: str | None,
) -> dict[str, Any]:
    """A kubeconfig with one context named after the cluster (aws eks get-token auth)."""
    name = config.names.cluster_name
    cluster: dict[str, Any] = {
        "server": server,
        "certificate-authority-data": certificate_authority,
    }
    if tls_server_name:
        cluster["tls-server-name"] = tls_server_name
    args = ["--region", config.region, "eks", "get-token", "--cluster-name", name]
    if role_arn:
        args += ["--role-arn", role_arn]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [
            {
                "name": name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": [*args, "--output", "json"],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def role_to_assume(config: StageConfig, caller_arn: str) -> str | None:
    """The admin role, unless the caller already is it (a role cannot always assume itself)."""
    role = config.kubernetes.admin_role_name
    if f":assumed-role/{role}/" in caller_arn or caller_arn.endswith(f":role/{role}"):
        return None
    return config.names.admin_role_arn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def forwarding_command(config: StageConfig, instance_id: str, host: str, port: int) -> list[str]:
    parameters = {"host": [host], "portNumber": ["443"], "localPortNumber": [str(port)]}
    return [
        "aws",
        "ssm",
        "start-session",
        "--region",
        config.region,
        "--target",
        instance_id,
        "--document-name",
        FORWARDING_DOCUMENT,
        "--parameters",
        json.dumps(parameters),
    ]


def wait_for_listener(port: int, tunnel: subprocess.Popen[str], timeout_s: float) -> None:
    """Until the local end of the tunnel accepts connections, or the session ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if tunnel.poll() is not None:
            output = (tunnel.stdout.read() if tunnel.stdout else "").strip().splitlines()
            raise OperatorError(
                "the Session Manager session ended: "
                + (output[-1] if output else f"exit {tunnel.returncode}")
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise OperatorError(f"the Session Manager tunnel did not open within {timeout_s:.0f} s")


def require_tools(config: StageConfig) -> None:
    for tool, where in (
        ("aws", "install the AWS CLI v2"),
        ("kubectl", "install kubectl (https://kubernetes.io/docs/tasks/tools/)"),
    ):
        if shutil.which(tool) is None:
            raise OperatorError(f"{tool} is not on PATH: {where}")
    if needs_tunnel(config) and shutil.which("session-manager-plugin") is None:
        raise OperatorError(
            "session-manager-plugin is not on PATH (Session Manager port forwarding): install "
            f"it ({SESSION_MANAGER_PLUGIN_DOCS})"
        )


def open_kubectl(config: StageConfig, command: list[str]) -> int:
    require_credentials()
    require_tools(config)
    eks = client("eks", config.region)
    try:
        cluster = eks.describe_cluster(name=config.names.cluster_name)["cluster"]
    except eks.exceptions.ResourceNotFoundException:
        raise OperatorError(
            f"cluster {config.names.cluster_name} does not exist: not deployed"
        ) from None
    endpoint = str(cluster["endpoint"])
    host = urlparse(endpoint).hostname or ""
    caller = client("sts", config.region).get_caller_identity()["Arn"]
    tunnel: subprocess.Popen[str] | None = None
    try:
        if needs_tunnel(config):
            instance = access_instance_id(config, client("ec2", config.region))
            port = free_port()
            tunnel = subprocess.Popen(
                forwarding_command(config, instance, host, port),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            wait_for_listener(port, tunnel, TUNNEL_READY_TIMEOUT_S)
            server, tls_name = f"https://127.0.0.1:{port}", host
        else:
            server, tls_name = endpoint, None
        with tempfile.TemporaryDirectory(prefix=f"{config.names.prefix}-kube-") as folder:
            path = Path(folder) / "config"
            document = kubeconfig(
                config,
                server=server,
                certificate_authority=str(cluster["certificateAuthority"]["data"]),
                tls_server_name=tls_name,
                role_arn=role_to_assume(config, caller),
            )
            path.write_text(json.dumps(document, indent=2))
            path.chmod(0o600)
            env = {**os.environ, "KUBECONFIG": str(path)}
            if command:
                return subprocess.call(["kubectl", *command], env=env)
            print(
                f"kubectl now reaches {config.names.cluster_name}"
                f" (as {config.kubernetes.admin_role_name}"
                f"{', through Session Manager' if tunnel else ''}); exit the shell to close.",
                file=sys.stderr,
            )
            return subprocess.call([os.environ.get("SHELL", "/bin/bash")], env=env)
    finally:
        if tunnel is not None and tunnel.poll() is None:
            tunnel.terminate()
            try:
                tunnel.wait(timeout=10)
            except subprocess.TimeoutExpired:
                tunnel.kill()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: cluster_access.py STAGE ['kubectl arguments']", file=sys.stderr)
        return 2
    stage, command = argv[0], shlex.split(" ".join(argv[1:]))
    return run(
        f"make kubectl STAGE={stage}",
        lambda: open_kubectl(stage_config_from_cli(stage), command),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
