"""Refuses a deploy whose stage still has placeholder edge settings (domain, hosted zone).

``make deploy STAGE=staging`` runs ``scripts/preflight-deploy.sh staging $(CDK_ARGS)``, which
runs this with the same arguments: the stage config plus the context overrides the CDK app
would apply (cdk.json's context, then ``-c key=value`` / ``--context key=value`` arguments).
Exit 0 and nothing printed when the stage may deploy; exit 1 with one line per placeholder.
dev without a domain deploys HTTP only (one notice line, exit 0).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from openmarket_cdk.config import (
    StageConfig,
    StageConfigError,
    deploy_blockers,
    stage_config,
)
from openmarket_cdk.config.overrides import with_context_overrides

ROOT = Path(__file__).resolve().parents[1]


def cli_context(args: Sequence[str]) -> dict[str, str]:
    """The ``-c key=value`` / ``--context key=value`` / ``--context=key=value`` pairs of a
    CDK command line (later ones win, as in the CDK CLI); other arguments are ignored."""
    context: dict[str, str] = {}
    pending = False
    for arg in args:
        pair = None
        if pending:
            pair, pending = arg, False
        elif arg in ("-c", "--context"):
            pending = True
        elif arg.startswith("--context="):
            pair = arg.removeprefix("--context=")
        if pair is not None and "=" in pair:
            key, value = pair.split("=", 1)
            context[key] = value
    return context


def stage_config_from_cli(stage: str, args: Sequence[str] = ()) -> StageConfig:
    """The stage's config with the overrides the app would see for ``cdk ... args``."""
    context = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    return with_context_overrides(stage_config(stage), {**context, **cli_context(args)})


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: preflight_edge.py STAGE [CDK arguments...]", file=sys.stderr)
        return 2
    stage, cdk_args = argv[0], argv[1:]
    try:
        config = stage_config_from_cli(stage, cdk_args)
    except StageConfigError as err:
        print(f"make deploy STAGE={stage}: {err}", file=sys.stderr)
        return 1
    problems = deploy_blockers(config)
    for problem in problems:
        print(f"make deploy STAGE={stage}: {problem}", file=sys.stderr)
    if problems:
        print(
            "A deploy with placeholder names would wait for a certificate no DNS can validate; "
            "see docs/deployment.md, 'A domain per stage'.",
            file=sys.stderr,
        )
        return 1
    if config.edge is None:
        print(f"{stage}: no domain configured: the ALB serves HTTP only.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
