"""What a stage's role demands of its config (set in stages.py, enforced by the checks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StagePolicy:
    """What a stage's role demands of its config, set in the stage definitions (stages.py)
    and enforced by the section checks, so no rule names a stage. The defaults are the strict
    side; dev relaxes the first two, prod adds the third."""

    # Data outlives a stack deletion; Aurora is deletion-protected and snapshotted on delete.
    keeps_data: bool = True
    # Runs like production: on-demand nodes, a WAF in front of its ALB, HTTPS on its own
    # domain, every control-plane log type; deploys behind a GitHub environment's reviewers;
    # its Slack URLs must be stored before a deploy (make preflight).
    production_like: bool = True
    # Customers use it: it never sleeps, its API endpoint is private, Aurora may grow to at
    # least PROD_MIN_MAX_READERS readers, a manual snapshot precedes each deploy, and its SES
    # account must be out of the sandbox (make preflight).
    serves_customers: bool = False
