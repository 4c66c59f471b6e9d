#!/usr/bin/env bash
# Regenerates constraints.txt from the dev venv, after a change to a requirements file.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Every package of the dev environment, pinned (pip freeze); regenerate with scripts/freeze-constraints.sh."
  # --all keeps setuptools (the editable install builds with it); pip itself is not pinned.
  .venv/bin/pip freeze --all --exclude-editable | grep -v "^pip=="
} > constraints.txt
