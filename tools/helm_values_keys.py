"""Record the value keys a Helm chart accepts, from its values.yaml at a pinned version.

A misspelt Helm value is silently ignored at deploy time, and no chart can be rendered on
the build machine (no helm, no chart repository). So the keys of the chart's own
``values.yaml`` (and of its subcharts', under their names) are recorded in the repository
once per pinned version, and a test checks every value the project sets against them.

Run on a machine with the chart (``helm pull <repo>/<chart> --version <v> --untar``)::

    python -m tools.helm_values_keys OUT.txt --source "kube-prometheus-stack 88.5.3" \\
        kube-prometheus-stack/values.yaml \\
        grafana=kube-prometheus-stack/charts/grafana/values.yaml ...

Each line is a dotted path (keys containing dots are quoted); a path ending in ``{}`` is
a map the chart passes through verbatim (empty by default: any key below it is allowed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


def key_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Every map key below ``node`` as a dotted path; empty maps marked ``{}``."""
    if not isinstance(node, dict):
        return
    if not node and prefix:
        yield f"{prefix}{{}}"
        return
    for key, value in node.items():
        part = f'"{key}"' if "." in str(key) else str(key)
        path = f"{prefix}.{part}" if prefix else part
        yield path
        yield from key_paths(value, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", required=True, help='e.g. "kube-prometheus-stack 88.5.3"')
    parser.add_argument("values", nargs="+", help="values.yaml, or <subchart>=values.yaml")
    args = parser.parse_args(argv)
    paths: set[str] = set()
    for spec in args.values:
        prefix, _, file = spec.rpartition("=")
        try:
            document = yaml.safe_load(Path(file).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            print(f"helm_values_keys: cannot read {file}: {error}", file=sys.stderr)
            return 1
        paths.update(key_paths(document, f'"{prefix}"' if "." in prefix else prefix))
        if prefix:
            paths.add(prefix)
    header = f"# Value keys of {args.source} (tools/helm_values_keys.py); do not edit.\n"
    args.out.write_text(header + "".join(f"{p}\n" for p in sorted(paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
