"""Where every alarm's runbook is: one section of docs/runbooks.md per alarm, its heading the
alarm's name without the stage prefix (``### aurora-cpu``), so the link is the name."""

from __future__ import annotations

from openmarket_cdk.config import GITHUB_REPOSITORY

RUNBOOKS_PATH = "docs/runbooks.md"
RUNBOOKS_URL = f"https://github.com/{GITHUB_REPOSITORY}/blob/main/{RUNBOOKS_PATH}"


def runbook_url(section: str) -> str:
    """The link to one section (GitHub's anchor of a ``### <section>`` heading)."""
    return f"{RUNBOOKS_URL}#{section}"


def alarm_description(what: str, section: str) -> str:
    """An alarm's description: what it means, then its runbook, which the e-mail shows."""
    return f"{what}. Runbook: {runbook_url(section)}"
