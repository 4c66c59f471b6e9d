"""The one error a wrong stage config raises, and how a validator raises it (the field first)."""

from __future__ import annotations

from typing import NoReturn


class StageConfigError(ValueError):
    """A stage configuration value is wrong; the message names the field."""


def fail(field_path: str, message: str) -> NoReturn:
    raise StageConfigError(f"stage config field '{field_path}': {message}")
