"""Every CloudWatch alarm of every stage and of the account links its runbook: a section of
docs/runbooks.md that exists and says what the alarm means, what to check first (commands),
how to fix it and how to silence it."""

from __future__ import annotations

import re
from typing import Any

from openmarket_cdk.runbooks import RUNBOOKS_URL
from tests.cfn import of_type
from tests.conftest import ROOT, Synthesized

RUNBOOKS = (ROOT / "docs" / "runbooks.md").read_text()
LINK = re.compile(re.escape(f"Runbook: {RUNBOOKS_URL}#") + r"([a-z0-9-]+)$")
# What each alarm section covers, as bold lead-ins.
PARTS = ("**What it means.**", "**First checks.**", "**Fix.**", "**Silence.**")


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def sections(markdown: str) -> dict[str, str]:
    """Anchor -> body of every ``###`` section."""
    found: dict[str, str] = {}
    parts = re.split(r"^### (.+)$", markdown, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        found[github_anchor(heading)] = body.split("\n## ")[0]
    return found


SECTIONS = sections(RUNBOOKS)


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        **of_type(template, "AWS::CloudWatch::Alarm"),
        **of_type(template, "AWS::CloudWatch::CompositeAlarm"),
    }


def all_templates(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        **{f"{stage}/{kind}": t for (stage, kind), t in synthesized.templates.items()},
        **synthesized.account_templates,
    }


def test_every_alarm_description_links_an_existing_runbook_section(
    synthesized: Synthesized,
) -> None:
    missing: list[str] = []
    count = 0
    for where, template in all_templates(synthesized).items():
        for logical_id, alarm in alarms(template).items():
            count += 1
            description = str(alarm["Properties"].get("AlarmDescription", ""))
            match = LINK.search(description)
            if match is None:
                missing.append(f"{where}/{logical_id}: no runbook link in {description!r}")
            elif match.group(1) not in SECTIONS:
                missing.append(f"{where}/{logical_id}: no section #{match.group(1)}")
    assert count > 50  # every stage's alarms and the CIS ones were looked at
    assert missing == []


def test_each_linked_section_says_what_to_do(synthesized: Synthesized) -> None:
    linked = {
        match.group(1)
        for template in all_templates(synthesized).values()
        for alarm in alarms(template).values()
        if (match := LINK.search(str(alarm["Properties"].get("AlarmDescription", ""))))
    }
    incomplete = {
        anchor: [part for part in PARTS if part not in SECTIONS.get(anchor, "")]
        for anchor in sorted(linked)
    }
    assert {anchor: parts for anchor, parts in incomplete.items() if parts} == {}


def test_the_link_checker_catches_a_missing_section() -> None:
    assert github_anchor("aurora-cpu") == "aurora-cpu"
    assert github_anchor("CIS: root `usage`") == "cis-root-usage"
    assert "no-such-alarm" not in SECTIONS
    assert LINK.search(f"x. Runbook: {RUNBOOKS_URL}#aurora-cpu")
    assert not LINK.search("x (see docs/runbooks.md)")
