#!/usr/bin/env bash
# Stops a deploy early, with a clear message, when this machine cannot deploy or the stage's
# images are not in its ECR repositories.
#   preflight-deploy.sh STAGE [CDK CLI arguments, e.g. -c backend_image_tag=1.4.2]
set -euo pipefail
stage="${1:?usage: preflight-deploy.sh STAGE [CDK arguments...]}"
shift
here="$(cd "$(dirname "$0")" && pwd)"

# First what needs neither Docker nor AWS: a stage with placeholder names (domain, hosted
# zone) would hang on a certificate that DNS can never validate. Same context as the deploy.
"${PYTHON:-python3}" "$here/preflight_edge.py" "$stage" "$@"

if ! docker info >/dev/null 2>&1; then
  echo "make deploy STAGE=$stage: no Docker engine answers here." >&2
  echo "Deploying bundles the Lambda functions in a container; run it where Docker runs" >&2
  echo "(the deploy workflow does). 'make synth' and 'make diff' work without Docker." >&2
  exit 1
fi
if ! aws sts get-caller-identity >/dev/null 2>&1 && \
   ! python3 -c 'import boto3,sys; sys.exit(boto3.Session().get_credentials() is None)' 2>/dev/null; then
  echo "make deploy STAGE=$stage: no AWS credentials found." >&2
  echo "Configure them (aws sso login, AWS_PROFILE, or the deploy role) and pass the account:" >&2
  echo "  OPENMARKET_ACCOUNT=123456789012 make deploy STAGE=$stage" >&2
  exit 1
fi
if [ -z "${OPENMARKET_ACCOUNT:-}" ]; then
  echo "make deploy STAGE=$stage: set OPENMARKET_ACCOUNT to the target AWS account id." >&2
  exit 1
fi
# The backend and frontend tags the stage deploys (config, or -c ..._image_tag) must be in
# its ECR repositories: otherwise the deploy would end in pods that never pull.
python3 "$(dirname "$0")/preflight_images.py" "$stage" "$@"
