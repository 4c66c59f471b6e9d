"""Kubernetes resource quantities, parsed in one place (the capacity model, the charts, the
cost tool and the config checks read them through here)."""

from __future__ import annotations

import math
import re

_MEMORY = re.compile(r"(\d+(?:\.\d+)?)([KMGT]i|[kKMGT]|)")
# Bytes per unit: binary (Ki, Mi, ...) and decimal (k/K, M, ...) suffixes.
_BYTES = {
    "": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


_CPU = re.compile(r"(\d+(?:\.\d+)?)(m?)")

# The forms the stage config allows (config/kubernetes_validation.py checks them; the charts
# render them as given): a container's CPU (millicores or whole cores), its memory (Mi or Gi),
# a volume (Gi).
CPU_FORM = re.compile(r"\d+m?")
MEMORY_FORM = re.compile(r"\d+(Mi|Gi)")
VOLUME_FORM = re.compile(r"\d+Gi")
# Prometheus' size flags (--storage.tsdb.retention.size): B to EB, in powers of two.
_PROMETHEUS_SIZE = re.compile(r"(\d+)([KMGTPE]?B)")
_PROMETHEUS_UNITS: dict[str, int] = {
    unit: 1 << (10 * power) for power, unit in enumerate(["B", "KB", "MB", "GB", "TB", "PB", "EB"])
}


def cpu_millicores(quantity: str) -> int:
    """``250m`` -> 250, ``1`` -> 1000, ``0.5`` -> 500."""
    match = _CPU.fullmatch(quantity)
    if not match:
        raise ValueError(f"not a CPU quantity: {quantity!r}")
    if match.group(2):
        return math.ceil(float(match.group(1)))
    return math.ceil(float(match.group(1)) * 1000)


def memory_bytes(quantity: str) -> float:
    """``512Mi``, ``2Gi``, ``128M``, ``100Gi``, or a plain number of bytes."""
    match = _MEMORY.fullmatch(quantity)
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return float(match.group(1)) * _BYTES[match.group(2)]


def memory_mebibytes(quantity: str) -> int:
    """``512Mi`` -> 512, ``2Gi`` -> 2048, ``128M`` -> 123 (rounded up)."""
    return math.ceil(memory_bytes(quantity) / 2**20)


def gibibytes(quantity: str) -> float:
    """A volume's size in GiB: ``100Gi`` -> 100.0, ``500Mi`` -> 0.488..."""
    return memory_bytes(quantity) / 2**30


def prometheus_size_bytes(size: str) -> int:
    """``90GB`` as Prometheus reads it: 90 * 2**30 bytes (its units are powers of two)."""
    match = _PROMETHEUS_SIZE.fullmatch(size)
    if not match:
        raise ValueError(f"not a Prometheus size: {size!r}")
    return int(match.group(1)) * _PROMETHEUS_UNITS[match.group(2)]
