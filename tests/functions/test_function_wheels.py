"""Every function's requirements.txt resolves to wheels for the Lambda runtime it deploys to.

Lambda python3.14 on arm64 runs Amazon Linux 2023 (glibc 2.34), so every dependency, transitive
ones included, must exist as a cp314 / abi3 / pure-Python wheel for manylinux_2_17 ..
manylinux_2_34 on aarch64. Catches a pin that has no wheel for the target before `cdk deploy`
tries to bundle it.

Needs the package index (PyPI or the mirror pip is configured for); without network access the
test fails with a message saying so, rather than skipping.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from openmarket_cdk.config import pins

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = sorted(ROOT.glob("functions/*/requirements.txt"))

PYTHON_VERSION = pins.LAMBDA_PYTHON_VERSION
# glibc 2.34 accepts every manylinux_2_X wheel with X <= 34; pip does not expand these itself.
PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{minor}_aarch64" for minor in range(17, 35)]
NOT_BUNDLED = {"boto3", "botocore", "s3transfer"}  # provided by the Lambda runtime

_NETWORK_HINTS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "SSLError",
)


def _requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


@pytest.mark.parametrize("requirements", REQUIREMENTS, ids=[p.parent.name for p in REQUIREMENTS])
def test_requirements_resolve_to_lambda_arm64_wheels(requirements: Path, tmp_path: Path) -> None:
    lines = _requirement_lines(requirements)
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9._\[\],-]+==[A-Za-z0-9.+!-]+(\s*;.*)?", line), (
            f"{requirements.relative_to(ROOT)}: {line!r} is not an exact '==' pin"
        )
        name = re.split(r"[\[=]", line, maxsplit=1)[0].lower().replace("_", "-")
        assert name not in NOT_BUNDLED, f"{name} comes from the Lambda runtime; do not bundle it"
    if not lines:
        pytest.skip(f"{requirements.relative_to(ROOT)} lists no packages")

    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--dest",
        str(tmp_path),
        "--requirement",
        str(requirements),
        "--timeout",
        "30",
        "--retries",
        "2",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip download for {requirements.relative_to(ROOT)} took over 10 minutes")
    output = f"{result.stdout}\n{result.stderr}".strip()
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-25:])
        if any(hint in output for hint in _NETWORK_HINTS):
            pytest.fail(
                "NETWORK: this test downloads wheels from the package index and could not reach "
                f"it (check network access / PIP_INDEX_URL).\n{tail}",
                pytrace=False,
            )
        pytest.fail(
            f"{requirements.relative_to(ROOT)} does not resolve to wheels for Lambda Python "
            f"{PYTHON_VERSION} arm64 (manylinux <= 2.34):\n{tail}",
            pytrace=False,
        )
    downloaded = sorted(p.name for p in tmp_path.iterdir())
    assert downloaded, "pip reported success but downloaded nothing"
    assert all(name.endswith(".whl") for name in downloaded), downloaded
