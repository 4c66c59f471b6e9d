#!/usr/bin/env python3
"""Takes a manual Aurora cluster snapshot before a deploy and waits until it is available.

``make snapshot STAGE=prod`` runs ``scripts/predeploy_snapshot.py prod``; the deploy workflow
runs it before the prod deploy. The snapshot is named after the commit and the UTC time,
``openmarket-<stage>-predeploy-<short sha>-<yyyymmdd>-<hhmmss>``, and tagged with both; its id
is the last line printed (and goes to the GitHub job summary in CI). The restore runbook
(docs/runbooks.md) starts from it.

- No cluster yet (the first deploy into an empty account): says so and exits 0.
- A cluster in a state RDS refuses to snapshot (e.g. stopped outside dev's working hours):
  exits 1 with RDS's reason and the command to start it.
- Serverless v2 auto-paused at 0 ACU (dev): the cluster stays ``available`` while its
  instance is paused, so the snapshot is requested as usual; whether Aurora resumes the
  instance for it is not something this script relies on: it waits for the snapshot's own
  status (docs/runbooks.md).
- Waits at most ``--timeout-minutes`` (default 30), then exits 1; the snapshot carries on
  and can be watched with ``aws rds describe-db-cluster-snapshots``.

Exit codes: 0 snapshot available (or nothing to snapshot), 1 failed or timed out, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openmarket_cdk.config import STAGE_NAMES, STAGE_TAG, StageConfig, stage_config
from scripts.aws_access import OperatorError, client, require_credentials, run

ROOT = Path(__file__).resolve().parents[1]

POLL_SECONDS = 15.0
DEFAULT_TIMEOUT_MINUTES = 30.0
FAILED_STATES = frozenset({"failed", "error", "incompatible-restore"})


class SnapshotError(RuntimeError):
    """The snapshot could not be taken or did not become available in time."""


def short_sha(explicit: str | None = None) -> str:
    """The commit to name the snapshot after: --commit, $GITHUB_SHA, or git's HEAD."""
    sha = explicit or os.environ.get("GITHUB_SHA")
    if not sha:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        sha = result.stdout.strip() if result.returncode == 0 else ""
    if not sha or not all(c in "0123456789abcdefABCDEF" for c in sha):
        raise SnapshotError(f"no commit to name the snapshot after (got {sha!r}): pass --commit")
    return sha[:7].lower()


def snapshot_identifier(config: StageConfig, sha: str, now: datetime) -> str:
    """``openmarket-prod-predeploy-1f92ea8-20261130-110721``: letters, digits and single
    hyphens, as RDS requires of a snapshot identifier."""
    return f"{config.names.predeploy_snapshot_prefix}-{sha}-{now.astimezone(UTC):%Y%m%d-%H%M%S}"


def take_snapshot(
    rds: Any,
    config: StageConfig,
    sha: str,
    *,
    now: datetime | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_MINUTES * 60,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> str | None:
    """Snapshot the stage's cluster and wait for ``available``; the id, or None without a
    cluster. ``rds`` is a boto3 RDS client."""
    cluster_id = config.names.aurora_cluster_identifier
    try:
        clusters = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    except rds.exceptions.DBClusterNotFoundFault:
        log(f"No Aurora cluster {cluster_id} yet (first deploy?): nothing to snapshot.")
        return None
    status = clusters[0]["Status"]
    identifier = snapshot_identifier(config, sha, now or datetime.now(UTC))
    log(f"Creating snapshot {identifier} of {cluster_id} (cluster status: {status}) ...")
    try:
        rds.create_db_cluster_snapshot(
            DBClusterSnapshotIdentifier=identifier,
            DBClusterIdentifier=cluster_id,
            Tags=[
                {"Key": "openmarket:purpose", "Value": "predeploy"},
                {"Key": "openmarket:commit", "Value": sha},
                {"Key": STAGE_TAG, "Value": config.name},
            ],
        )
    except rds.exceptions.InvalidDBClusterStateFault as err:
        raise SnapshotError(
            f"cluster {cluster_id} ({status}) cannot be snapshotted now: {err}; if it is "
            f"stopped: aws rds start-db-cluster --db-cluster-identifier {cluster_id}"
        ) from err
    waited = 0.0
    while True:
        (snapshot,) = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)[
            "DBClusterSnapshots"
        ]
        state = snapshot["Status"]
        if state == "available":
            log(f"Snapshot {identifier} is available.")
            return identifier
        if state in FAILED_STATES:
            raise SnapshotError(f"snapshot {identifier} ended {state}")
        if waited >= timeout_seconds:
            raise SnapshotError(
                f"snapshot {identifier} still {state} ({snapshot.get('PercentProgress', 0)}%) "
                f"after {waited / 60:.0f} minutes; it carries on: aws rds "
                f"describe-db-cluster-snapshots --db-cluster-snapshot-identifier {identifier}"
            )
        log(f"  {state}, {snapshot.get('PercentProgress', 0)}% ...")
        sleep(poll_seconds)
        waited += poll_seconds


def main(argv: list[str], rds: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stage", choices=STAGE_NAMES)
    parser.add_argument("--commit", help="commit to name the snapshot after (default: HEAD)")
    parser.add_argument("--timeout-minutes", type=float, default=DEFAULT_TIMEOUT_MINUTES)
    parser.add_argument("--poll-seconds", type=float, default=POLL_SECONDS)
    args = parser.parse_args(argv)
    config = stage_config(args.stage)

    def body() -> int:
        nonlocal rds
        try:
            sha = short_sha(args.commit)
            if rds is None:
                require_credentials()
                rds = client("rds", config.region)
            identifier = take_snapshot(
                rds,
                config,
                sha,
                timeout_seconds=args.timeout_minutes * 60,
                poll_seconds=args.poll_seconds,
                log=lambda line: print(line, file=sys.stderr),
            )
        except SnapshotError as err:
            raise OperatorError(str(err)) from None
        if identifier is None:
            return 0
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(f"Pre-deploy Aurora snapshot: `{identifier}`\n")
        print(identifier)
        return 0

    return run(f"make snapshot STAGE={args.stage}", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
