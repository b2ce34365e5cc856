"""The finished units of an unfinished run, kept on disk so that an interrupted run resumes (`UnitFiles`), and the
run's `plan.json` that `python -m landscape list` reads (`read_plan`).

`results/.partial/<experiment>-<key>.units/` holds `unit-0003-<key>.npz` for every finished unit (a result file:
checksum, config, the unit's arrays, its wall time and which unit it is), `unit-0003.pt` for a unit's mid-unit
checkpoint, and `plan.json`. The folder is the store's own: a folder or file there that is a symbolic link or not
what the store writes is refused with a clear error (never followed, never deleted); a unit file is taken only if its
header names this experiment, key, config, unit index and unit description, else it is discarded and its unit
runs again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from .store import CorruptResultError, Result, ResultsNotWritableError, guard, load_result, save_result, write_atomic

PLAN_MAX_BYTES = 1 << 20  # a plan.json is a few kB; anything far bigger is not one


def unit_id(unit) -> str:
    """16 hex digits naming a unit description (a tuple of configs, widths, names): the same description gives the
    same id in every process, so a unit file can be matched with the unit it claims to be."""
    return hashlib.sha256(json.dumps(_plain(unit), sort_keys=True).encode()).hexdigest()[:16]


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    text = repr(value)
    return type(value).__qualname__ if " at 0x" in text else text


class UnitFiles:
    """The finished units of one run (experiment, key), each saved atomically as it finishes:
    `<folder>/unit-0003-<key>.npz` (a result file: checksum, config, the unit's arrays, its wall time, its index and
    `unit_ids[i]`), with `plan.json` saying how many units the run has, for `python -m landscape list`. A unit's own
    partial state (its checkpoint) lives beside it as `unit-0003.pt`. Nothing here is ever read under a final
    result's name. `root` is the results folder (default: the folder above `.partial`): nothing between it and a
    unit file may be a link."""

    def __init__(self, folder: Path, experiment: str, version: int, key: str, config: dict, unit_ids=(),
                 root: Path | None = None):
        self.folder, self.experiment, self.version, self.key, self.config = Path(folder), experiment, version, key, config
        self.unit_ids = tuple(unit_ids)
        self.root = Path(root) if root is not None else self.folder.parent.parent
        self._config_json = json.loads(json.dumps(config))  # as a header stores it (tuples become lists)
        self._ours = re.compile(rf"^(plan\.json|unit-\d{{4}}-{re.escape(key)}\.npz|unit-\d{{4}}[\w.-]*\.(pt|tmp)"
                                rf"|\.(plan\.json|unit-\d{{4}}[\w.-]*)\.\w+\.tmp)$")

    def path(self, i: int) -> Path:
        return self.folder / f"unit-{i:04d}-{self.key}.npz"

    def checkpoint(self, i: int) -> Path:
        return self.folder / f"unit-{i:04d}.pt"

    def check(self) -> None:
        """UnsafePathError unless the unit folder (where it exists) and every file in a unit's slot are what the
        store writes there: no symbolic links, no folders named like unit files. Called before any compute."""
        guard(self.root, self.folder, "folder")
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if self._ours.match(path.name):
                    guard(self.root, path, "file")

    def write_plan(self, units: int, labels: list[str], preset: str | None, overrides: dict) -> None:
        guard(self.root, self.folder, "folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsNotWritableError(f"cannot write {self.folder} ({exc.strerror or exc})") from None
        plan = {"experiment": self.experiment, "version": self.version, "key": self.key, "preset": preset,
                "overrides": overrides, "units": units, "labels": labels}
        text = json.dumps(plan, indent=1).encode()
        write_atomic(guard(self.root, self.folder / "plan.json"), lambda f: f.write(text))

    def load(self, units: int) -> dict[int, tuple]:
        """{unit index: (arrays, summary, info)} of the units already finished. A unit file that is damaged, or
        whose header is not this slot's (another experiment, key, config, unit index or unit), is removed with a
        warning, and that unit runs again; a link or a folder in a unit's slot is an UnsafePathError."""
        self.check()
        done = {}
        for i in range(units):
            path = self.path(i)
            if not os.path.lexists(path):
                continue
            try:
                r = load_result(path)
                problem = self._mismatch(r, i)
            except CorruptResultError as exc:
                problem = str(exc).removeprefix(f"{path}: ")
            if problem:
                print(f"warning: {path}: {problem}; discarded, the unit runs again", file=sys.stderr)
                path.unlink(missing_ok=True)
                continue
            done[i] = (r.arrays, r.summary, r.provenance["unit"])
        return done

    def _mismatch(self, r: Result, i: int) -> str:
        """Why the unit file `r` cannot be unit i of this run ("" if it can)."""
        unit = r.provenance.get("unit")
        if r.experiment != self.experiment or r.key != self.key:
            return f"it holds a unit of {r.experiment} (key {r.key}), not of {self.experiment} (key {self.key})"
        if r.config != self._config_json:
            return "its config is not this run's"
        if not isinstance(unit, dict) or unit.get("index") != i:
            index = unit.get("index") if isinstance(unit, dict) else None
            return f"it holds unit {index}, not unit {i}"
        if i < len(self.unit_ids) and unit.get("unit") != self.unit_ids[i]:
            return f"its unit description ({unit.get('unit')}) is not unit {i}'s ({self.unit_ids[i]})"
        if not isinstance(unit.get("wall_time_s"), (int, float)):
            return "it has no unit wall time"
        return ""

    def save(self, i: int, arrays: dict, summary: dict, info: dict) -> None:
        unit = {"index": i, **({"unit": self.unit_ids[i]} if i < len(self.unit_ids) else {}), **info}
        provenance = {"experiment_version": self.version, "unit": unit}
        save_result(guard(self.root, self.path(i)),
                    Result(self.experiment, self.key, self.config, arrays, summary, provenance))
        for stale in self.folder.glob(f"unit-{i:04d}*.pt"):
            if not stale.is_symlink() and stale.is_file():
                stale.unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove what the store wrote here (unit files, checkpoints, the plan, their temporary files) and the folder
        once it is empty. A link in place of the folder is an UnsafePathError: nothing behind it is touched; files
        the store did not write are left where they are, and so is the folder then."""
        if not os.path.lexists(self.folder):
            return
        guard(self.root, self.folder, "folder")
        left = []
        for path in sorted(self.folder.iterdir()):
            if self._ours.match(path.name) and not path.is_symlink() and path.is_file():
                path.unlink(missing_ok=True)
            else:
                left.append(path.name)
        if left:
            print(f"warning: {self.folder} kept: it holds {', '.join(left[:3])}{' …' if len(left) > 3 else ''}, "
                  f"which the store did not write", file=sys.stderr)
            return
        self.folder.rmdir()


def read_plan(folder: Path) -> dict | None:
    """A run's plan.json with the number of units finished (`done`), or None where there is no plan of the expected
    shape (missing, unreadable, not JSON, other types, a link: `list` survives anything in `.partial/`)."""
    folder, plan_path = Path(folder), Path(folder) / "plan.json"
    try:
        if folder.is_symlink() or not folder.is_dir() or plan_path.is_symlink() or not plan_path.is_file() \
                or plan_path.stat().st_size > PLAN_MAX_BYTES:
            return None
        plan = json.loads(plan_path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    types = {"experiment": str, "key": str, "units": int, "labels": list, "overrides": dict}
    if not isinstance(plan, dict) or any(not isinstance(plan.get(k), t) or isinstance(plan.get(k), bool)
                                         for k, t in types.items()):
        return None
    if not (plan.get("preset") is None or isinstance(plan["preset"], str)) or plan["units"] < 0 \
            or not re.fullmatch(r"[0-9a-f]{12}", plan["key"]):
        return None
    key = plan["key"]
    plan["done"] = sum(1 for p in folder.glob(f"unit-[0-9][0-9][0-9][0-9]-{key}.npz")
                       if not p.is_symlink() and p.is_file())
    return plan
