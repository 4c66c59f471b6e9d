"""What the CDK construct sets on every function (openmarket_cdk/constructs/function.py), for
the function tests: the metrics namespace, which the functions read from the environment.

The namespace comes from the app's config (openmarket_cdk/config/facts.py), never spelled
here, so the tests assert the namespace the functions really publish into (and the alarms
watch).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from unittest import mock

from openmarket_cdk.config import METRICS_NAMESPACE

METRICS_NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
# The variables every function gets from its construct (besides its own settings).
CONSTRUCT_ENV: dict[str, str] = {METRICS_NAMESPACE_ENV: METRICS_NAMESPACE}

__all__ = ["CONSTRUCT_ENV", "METRICS_NAMESPACE", "METRICS_NAMESPACE_ENV", "construct_env"]


@contextlib.contextmanager
def construct_env() -> Iterator[None]:
    """``os.environ`` with what the construct sets, for loading a function's ``index.py``:
    Powertools' ``Metrics`` reads its namespace when it is created, at import."""
    with mock.patch.dict(os.environ, CONSTRUCT_ENV):
        yield
