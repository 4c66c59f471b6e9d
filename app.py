#!/usr/bin/env python3
"""The OpenMarket CDK app: one OpenMarketStage per stage (dev, staging, prod).

Context:
  -c account=123456789012   AWS account (or $OPENMARKET_ACCOUNT); a placeholder otherwise
  -c stages=dev             only build some stages (comma separated); default: all three
  -c backend_image_tag=1.4.2 / -c frontend_image_tag=...   image tags to deploy
  -c github_oidc_provider_arn=arn:...   reuse the account's existing GitHub OIDC provider
  -c alarm_email=... -c sender_email=... -c office_cidrs=a/b,c/d -c security_alarm_email=...

A wrong value fails synth with one line naming the field (no traceback).
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

from openmarket_cdk.app_builder import build_app, unacknowledged_findings
from openmarket_cdk.config import StageConfigError

app = cdk.App()
try:
    build_app(app)
except StageConfigError as err:
    # The message names the field; a traceback would only bury it.
    print(f"synth refused: {err}", file=sys.stderr)
    sys.exit(1)
assembly = app.synth()
findings = unacknowledged_findings(assembly.directory)
if findings:
    print(f"{len(findings)} unacknowledged validation finding(s):", file=sys.stderr)
    for finding in findings:
        print(f"  {finding}", file=sys.stderr)
    sys.exit(1)
