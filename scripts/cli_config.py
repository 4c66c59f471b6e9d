"""The stage config an operator command works on: the one the CDK app would build for the same
command line (cdk.json's context, then ``-c key=value`` arguments, the account from
``-c account=...`` or ``$OPENMARKET_ACCOUNT``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openmarket_cdk.config import AccountConfig, StageConfig, account_config, stage_config
from openmarket_cdk.config.overrides import (
    SECURITY_ALARM_EMAIL_CONTEXT,
    with_account_overrides,
    with_context_overrides,
)
from openmarket_cdk.config.stages import resolve_account

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


def full_context(args: Sequence[str] = ()) -> dict[str, Any]:
    """cdk.json's context with the command line's ``-c`` pairs on top."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    return {**context, **cli_context(args)}


def stage_config_from_cli(stage: str, args: Sequence[str] = ()) -> StageConfig:
    """The stage's config with the overrides the app would see for ``cdk ... args``."""
    context = full_context(args)
    return with_context_overrides(stage_config(stage, resolve_account(context)), context)


def account_config_from_cli(args: Sequence[str] = ()) -> AccountConfig:
    """The once-per-account settings the app would see for ``cdk ... args``."""
    context = full_context(args)
    return with_account_overrides(
        account_config(resolve_account(context)),
        {SECURITY_ALARM_EMAIL_CONTEXT: context.get(SECURITY_ALARM_EMAIL_CONTEXT)},
    )
