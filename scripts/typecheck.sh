#!/usr/bin/env bash
# mypy --strict (pyproject.toml) on the app, the charts, the post-synth tools and each function.
# `make lint` runs it; `make test` runs it beside the test suite (tests/test_code_quality.py),
# so typing cannot decay unnoticed without adding its minutes to the suite's.
set -euo pipefail
cd "$(dirname "$0")/.."
MYPY=.venv/bin/mypy
"$MYPY" openmarket_cdk app.py charts tools
# One run per function: each folder is its own Lambda bundle (four index.py modules).
for fn in functions/*/; do
  "$MYPY" "$fn"
done
