"""Clear errors on bad input: every message names the field and what is allowed."""

from __future__ import annotations

import math


class ConfigError(ValueError):
    """A configuration field has a value outside what the experiment accepts."""


def require(condition: bool, field: str, allowed: str, value) -> None:
    if not condition:
        raise ConfigError(f"{field}={value!r} is not allowed: {field} must be {allowed}")


def require_choice(field: str, value, choices) -> None:
    require(value in choices, field, "one of " + ", ".join(repr(c) for c in choices), value)


def require_finite(field: str, value, *, positive: bool = False, at_least: float | None = None) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    require(ok, field, "a finite number", value)
    if positive:
        require(value > 0, field, "> 0", value)
    if at_least is not None:
        require(value >= at_least, field, f">= {at_least}", value)


def require_int(field: str, value, *, at_least: int = 0) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    require(ok, field, "an integer", value)
    require(value >= at_least, field, f"an integer >= {at_least}", value)


def require_int_tuple(field: str, values, *, at_least: int = 0) -> None:
    """A non-empty tuple of integers, each >= at_least."""
    require(len(values) > 0, field, "a non-empty tuple of integers", values)
    for v in values:
        require_int(field, v, at_least=at_least)
