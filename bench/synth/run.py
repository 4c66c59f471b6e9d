"""Times the full three-stage `cdk synth` against an empty CDK app's synth, side by side.

Both run through the same pinned CLI (`npx cdk synth --quiet`), interleaved, several rounds;
the figure is the ratio of medians, so machine noise hits both sides alike.
Target (issue 2): full synth within 4x the empty app.

    .venv/bin/python bench/synth/run.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_RATIO = 4.0

EMPTY_APP = """
import aws_cdk as cdk
app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""


def _env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return os.environ | {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_VERSION_CHECK": "true",
        "CDK_CLI_TELEMETRY": "false",
    }


def _synth_seconds(app_dir: Path, outdir: Path) -> float:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    shutil.rmtree(outdir, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [str(cdk), "synth", "--quiet", "--output", str(outdir)],
        cwd=app_dir,
        env=_env(),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        empty = Path(tmp) / "empty-app"
        empty.mkdir()
        (empty / "app.py").write_text(EMPTY_APP)
        (empty / "cdk.json").write_text(f'{{"app": "{sys.executable} app.py"}}')
        full_times: list[float] = []
        empty_times: list[float] = []
        for _ in range(args.rounds):
            empty_times.append(_synth_seconds(empty, Path(tmp) / "empty.out"))
            full_times.append(_synth_seconds(ROOT, Path(tmp) / "full.out"))

    empty_median = statistics.median(empty_times)
    full_median = statistics.median(full_times)
    ratio = full_median / empty_median
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(f"empty app synth   median {empty_median:6.2f} s  runs {_fmt(empty_times)}")
    print(f"OpenMarket synth  median {full_median:6.2f} s  runs {_fmt(full_times)}")
    print(f"ratio {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x): {verdict}")
    return 0


def _fmt(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)


if __name__ == "__main__":
    sys.exit(main())
