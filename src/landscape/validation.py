"""Clear errors on bad input: every message names the field and what is allowed; and configs whose fields are
normalized (int/float, numpy scalars, lists/tuples) so that equal configs hash to the same stored key."""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing

import numpy as np


class UserError(Exception):
    """A problem the user can fix: the command line prints the message and `hint` (at most two lines), no traceback."""

    hint: str = ""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint or self.hint


class ConfigError(UserError, ValueError):
    """A configuration field has a value outside what the experiment accepts."""


class NotWritableError(UserError, OSError):
    """A file cannot be written where a run keeps its results or its partial state (a read-only folder, a full
    disk); nothing half-written is left behind."""

    hint = "free space there or point LANDSCAPE_RESULTS at a writable folder, then rerun the same command " \
           "(finished units are kept)"


INT_MAX = 2 ** 63 - 1  # integer config fields must fit a C int64 (numpy's and torch's integers)


def require(condition: bool, field: str, allowed: str, value) -> None:
    if not condition:
        raise ConfigError(f"{field}={value!r} is not allowed: {field} must be {allowed}")


def require_choice(field: str, value, choices) -> None:
    require(value in choices, field, "one of " + ", ".join(repr(c) for c in choices), value)


def require_finite(field: str, value, *, positive: bool = False, at_least: float | None = None) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    require(ok, field, "a finite number", value)
    if positive:
        require(value > 0, field, "> 0", value)
    if at_least is not None:
        require(value >= at_least, field, f">= {at_least}", value)


def require_int(field: str, value, *, at_least: int = 0) -> None:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    require(ok, field, "an integer", value)
    require(value >= at_least, field, f"an integer >= {at_least}", value)


def require_int_tuple(field: str, values, *, at_least: int = 0) -> None:
    """A non-empty tuple of integers, each >= at_least."""
    require(isinstance(values, tuple) and len(values) > 0, field, "a non-empty tuple of integers", values)
    for v in values:
        require_int(field, v, at_least=at_least)


def _is_named_tuple(hint) -> bool:
    return isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields")


def _plain(value, hint):
    """`value` as the plain Python type its annotation names: numbers.Real → float, Integral → int (a non-integral
    value is left for the validator to reject), sequences → tuples (element types from tuple[...] hints), a sequence
    of the right length under a NamedTuple hint → that NamedTuple, each field normalized to its annotated type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_named_tuple(hint) and isinstance(value, (list, tuple, np.ndarray)) and len(value) == len(hint._fields):
        hints = typing.get_type_hints(hint)
        return hint(*(_plain(v, hints.get(name, typing.Any)) for v, name in zip(value, hint._fields)))
    if _is_named_tuple(hint) and isinstance(value, (list, tuple, np.ndarray)):  # wrong length: for the validator
        return tuple(_plain(v, typing.Any) for v in value)
    if hint is float and isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    if hint is int and isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if hint is bool and isinstance(value, np.bool_):
        return bool(value)
    if hint is str and isinstance(value, np.str_):
        return str(value)
    if (hint is tuple or origin is tuple) and isinstance(value, (list, tuple, np.ndarray)):
        if len(args) == 2 and args[1] is Ellipsis:
            hints = [args[0]] * len(value)
        elif args and len(args) == len(value):
            hints = list(args)
        else:
            hints = [typing.Any] * len(value)
        return tuple(_plain(v, h) for v, h in zip(value, hints))
    if isinstance(value, np.generic):  # a numpy scalar under a loose hint
        return value.item()
    if isinstance(value, (list, np.ndarray)) and hint is typing.Any:
        return tuple(_plain(v, typing.Any) for v in value)
    return value


def normalize_fields(config) -> None:
    """Rewrite a (frozen) config dataclass's fields in place as plain Python values of their annotated types, so that
    `Config(amplitude=70)`, `Config(amplitude=np.float32(70))` and `Config(amplitude=70.0)` are one config with one
    key. Call it first in `__post_init__`."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, hint = getattr(config, f.name), hints.get(f.name, typing.Any)
        plain = _plain(value, hint)
        if hint is bool:
            require(isinstance(plain, bool), f.name, "True or False", value)
        if hint is str:
            require(isinstance(plain, str), f.name, "a string", value)
        _require_int64(f.name, plain)
        if plain is not value:
            object.__setattr__(config, f.name, plain)


def _require_int64(field: str, value) -> None:
    """Integers in a config (also inside tuples) fit an int64: a larger one cannot size an array or a loop."""
    if isinstance(value, tuple):
        for v in value:
            _require_int64(field, v)
    elif isinstance(value, int) and not isinstance(value, bool):
        require(-INT_MAX - 1 <= value <= INT_MAX, field, f"an integer of at most {INT_MAX} (2**63 - 1)", value)


def _override_value(raw, hint, name: str):
    """`raw` (a string from `--set name=raw`) as a value of the field's annotated type; other values pass through
    (the config's own validation judges them)."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        require(text.lower() in words, name, "true or false", raw)
        return words[text.lower()]
    if hint is int:
        try:
            return int(text)
        except ValueError:
            require(False, name, "an integer", raw)
    if hint is float:
        try:
            return float(text)
        except ValueError:
            require(False, name, "a number", raw)
    if hint is str:
        return raw
    if hint is tuple or origin is tuple or _is_named_tuple(hint):
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except ValueError:
                require(False, name, "a JSON list, e.g. [[\"dce\", 1, 500, 1.0]]", raw)
        elements = [t.strip() for t in text.split(",") if t.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            element = args[0]
            require(not _is_named_tuple(element) and typing.get_origin(element) is not tuple, name,
                    "a JSON list of lists, e.g. [[\"dce\", 1, 500, 1.0], [\"dce\", 70, 500, 1.0]]", raw)
            return tuple(_override_value(e, element, name) for e in elements)
        if args and len(args) == len(elements):
            return tuple(_override_value(e, h, name) for e, h in zip(elements, args))
        return tuple(elements)
    return raw


def apply_overrides(config, overrides):
    """`config` with fields changed by `overrides` — a mapping {field: value} or "field=value" strings (the command
    line's `--set`); a dotted field reaches into a nested config (`data.points_per_class=100`). String values are
    read as the field's annotated type (numbers, true/false, comma-separated tuples, JSON lists), then the config's
    own validation runs. Returns (new config, {field: value} of the fields that changed, as stored JSON)."""
    import json

    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            require(isinstance(item, str) and "=" in item, "--set", "KEY=VALUE (e.g. seeds=20)", item)
            key, value = item.split("=", 1)
            items.append((key.strip(), value))
    tree: dict = {}
    for name, raw in items:
        _get_path(config, name)  # an unknown field is named before anything is parsed
        node = tree
        *parents, last = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = (name, raw)
    new = _apply(config, tree)  # all at once: fields that depend on each other (steps, record_every) change together
    changed = {}
    for name, _ in items:
        if _get_path(new, name) != _get_path(config, name):
            changed[name] = json.loads(json.dumps(_get_path(new, name)))
    return new, changed


def _apply(config, tree: dict):
    hints = typing.get_type_hints(type(config))
    changes = {}
    for head, value in tree.items():
        current = getattr(config, head)
        if isinstance(value, dict):
            changes[head] = _apply(current, value)
            continue
        name, raw = value
        if dataclasses.is_dataclass(current):
            raise ConfigError(f"{name} is a group of fields, not one value",
                              hint="set one of them: " + ", ".join(f"{name}.{f.name}"
                                                                   for f in dataclasses.fields(current)))
        changes[head] = _override_value(raw, hints.get(head, typing.Any), name)
    return dataclasses.replace(config, **changes)


def _fields_of(config) -> str:
    return ", ".join(f.name for f in dataclasses.fields(config))


def _get_path(config, name: str):
    value = config
    for part in name.split("."):
        if not dataclasses.is_dataclass(value) or part not in {f.name for f in dataclasses.fields(value)}:
            where = type(value).__name__ if dataclasses.is_dataclass(value) else "this value"
            allowed = _fields_of(value) if dataclasses.is_dataclass(value) else "none (it is not a group of fields)"
            raise ConfigError(f"{name} is not a field of {where}", hint=f"fields: {allowed}")
        value = getattr(value, part)
    return value
