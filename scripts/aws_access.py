"""How the operator commands (make preflight, wake, url, smoke, snapshot, destroy, kubectl) reach
AWS: clients with short timeouts and few retries, and one place that turns what an operator
can fix (no credentials, no network, an expired session, a refused call, a bad stage config)
into one line that says so, instead of a traceback or minutes of retries."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from openmarket_cdk.config import StageConfigError

# Seconds to open a connection / wait for an answer, and attempts in all: an endpoint that
# cannot answer (no network) fails in seconds, a throttled call still gets a second try.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60
MAX_ATTEMPTS = 3

NO_CREDENTIALS = (
    "no AWS credentials found: sign in (aws sso login, AWS_PROFILE, or the deploy role's "
    "OIDC session in CI) and run it again"
)


class OperatorError(Exception):
    """Something the operator must fix; the message is the whole explanation (one line)."""


def client(
    service: str,
    region: str,
    *,
    read_timeout: int = READ_TIMEOUT_S,
    attempts: int = MAX_ATTEMPTS,
) -> Any:
    """A boto3 client that gives up quickly when AWS cannot be reached (a call that runs
    long, such as invoking a function, gives its own read timeout)."""
    import boto3  # here: importing an operator script for its tests needs no AWS SDK session
    from botocore.config import Config

    return boto3.client(
        service,
        region_name=region,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
        ),
    )


def has_credentials() -> bool:
    """Whether the default chain finds credentials (env, profile, SSO, container, instance),
    without calling AWS."""
    import boto3

    try:
        return boto3.Session().get_credentials() is not None
    except Exception:  # a broken profile or SSO cache: as good as none
        return False


def require_credentials() -> None:
    if not has_credentials():
        raise OperatorError(NO_CREDENTIALS)


def explain(err: BaseException) -> str | None:
    """One line for an error an operator can act on; None for a bug (which keeps its
    traceback)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ReadTimeoutError,
        TokenRetrievalError,
        UnauthorizedSSOTokenError,
    )

    if isinstance(err, OperatorError | StageConfigError):
        return str(err)
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return NO_CREDENTIALS
    if isinstance(err, TokenRetrievalError | UnauthorizedSSOTokenError):
        return f"the AWS sign-in has expired ({err}): aws sso login, then run it again"
    if isinstance(err, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return f"AWS did not answer ({err}): check the network or proxy and run it again"
    if isinstance(err, NoRegionError):
        return "no AWS region: this should not happen (the stages fix theirs); report it"
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
            return "the AWS session has expired: sign in again and run it again"
        if code in {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}:
            return f"AWS does not accept these credentials ({code}): check the profile"
        return f"AWS refused {err.operation_name}: {code}: {message}"
    if isinstance(err, BotoCoreError):
        return f"AWS call failed: {err}"
    return None


def run(command: str, body: Callable[[], int]) -> int:
    """Run ``body``; an error with an explanation ends it as ``<command>: <line>``, exit 1."""
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        line = explain(err)
        if line is None:
            raise
        print(f"{command}: {line}", file=sys.stderr)
        return 1
