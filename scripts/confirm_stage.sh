#!/usr/bin/env bash
# Guard rails of `make deploy` and `make destroy`, before anything touches AWS.
#
#   confirm_stage.sh deploy STAGE    prod: asks to type "prod" unless CI=true
#   confirm_stage.sh destroy STAGE   refuses every stage but dev
#
# The answer is read from standard input; with no input (a pipe, /dev/null) it refuses.
set -euo pipefail
action="${1:?usage: confirm_stage.sh deploy|destroy STAGE}"
stage="${2:?usage: confirm_stage.sh deploy|destroy STAGE}"

case "$action" in
  deploy)
    [ "$stage" = prod ] || exit 0
    if [ "${CI:-}" = true ]; then
      echo "CI=true: deploying prod without a prompt (the GitHub environment approved it)."
      exit 0
    fi
    printf 'You are about to deploy the PROD stage. Type "prod" to continue: ' >&2
    answer=""
    read -r answer || true
    if [ "$answer" != prod ]; then
      echo "Not confirmed: prod was not deployed." >&2
      exit 1
    fi
    ;;
  destroy)
    if [ "$stage" != dev ]; then
      echo "make destroy refuses STAGE=$stage: only dev is disposable." >&2
      echo "staging and prod keep their data (termination protection, retained databases," >&2
      echo "buckets and snapshots); see docs/deployment.md, 'Removing a stage'." >&2
      exit 1
    fi
    ;;
  *)
    echo "unknown action $action (deploy or destroy)" >&2
    exit 2
    ;;
esac
