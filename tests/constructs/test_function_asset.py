"""A function's asset on a bare app: bytecode a local run leaves in the function's folder
(tests, mypy) is neither shipped nor part of the asset's hash, so the same sources give the
same asset, and no `cdk diff`, on every machine."""

from __future__ import annotations

import contextlib
from pathlib import Path

from aws_cdk.assertions import Template

from openmarket_cdk.config import stage_config
from openmarket_cdk.constructs.function import FUNCTIONS_DIR, OpenMarketFunction
from tests.constructs.bare import bare_stack

NAME = "report-generator"


def _code_key() -> str:
    stack = bare_stack(stage_config("dev"))
    OpenMarketFunction(stack, name=NAME, config=stage_config("dev"), environment={})
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    key: str = function["Properties"]["Code"]["S3Key"]
    return key


def _with_file(relative: str, content: bytes) -> str:
    """The asset's key while ``functions/<NAME>/<relative>`` exists (made and removed here)."""
    path = FUNCTIONS_DIR / NAME / relative
    made = [p for p in reversed(path.relative_to(FUNCTIONS_DIR / NAME).parents) if p != Path(".")]
    created = [FUNCTIONS_DIR / NAME / p for p in made if not (FUNCTIONS_DIR / NAME / p).exists()]
    for directory in created:
        directory.mkdir()
    try:
        path.write_bytes(content)
        return _code_key()
    finally:
        path.unlink(missing_ok=True)
        for directory in reversed(created):
            # Python may have cached a module in it meanwhile (another worker): then it stays.
            with contextlib.suppress(OSError):
                directory.rmdir()


def test_bytecode_does_not_change_the_asset() -> None:
    assert _with_file("__pycache__/asset_probe.cpython-311.pyc", b"not the source") == _code_key()


def test_a_source_file_does_change_it() -> None:
    """The probe sees a change to what is shipped, so the test above can fail."""
    assert _with_file("asset_probe.txt", b"shipped") != _code_key()
