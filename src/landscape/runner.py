"""Experiments meet results: `load_or_run(name, preset)` returns the stored result of an experiment for that exact
config and experiment version, or computes it (with a progress bar, resumable) and stores it with its provenance.
The computing goes through the experiment's units (`Experiment.split`, else the whole run as one unit) on an
executor (`landscape.executor`: in-process by default, or Dask); `run_many` computes several results at once.

The only module besides the `registry` itself and the command line that knows the experiment registry. Results
returned here carry their config dataclass as `typed_config` (the file layer, `store`, keeps the stored dict).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import runtime
from .executor import InProcess, Task, run_tasks
from .registry import Units, config_from_dict, get_experiment
from .runtime import InsufficientMemoryError, compute_policy, format_bytes, resolve_device
from .store import (CorruptResultError, MissingResultError, Result, Store, config_dict, config_key, load_result,
                    git_commit, provenance, save_result)
from .unit_files import UnitFiles, unit_id
from .validation import apply_overrides


def resolve(name: str, preset: str | None = "full", config=None, overrides=None):
    """(experiment, config, preset, overrides applied, file label) for a registered experiment name and a preset or
    explicit config, with `overrides` (`validation.apply_overrides`: {field: value} or "field=value" strings) applied.
    A result with overrides is stored under its own key as `<preset>+set-<key>.npz`."""
    experiment = get_experiment(name)
    if config is None:
        config = experiment.preset(preset)
    elif preset is not None and config != experiment.presets.get(preset):
        preset = None
    applied = {}
    if overrides:
        config, applied = apply_overrides(config, overrides)
    label = f"{preset or 'custom'}+set" if applied else preset
    return experiment, config, preset, applied, label


def _typed(result: Result, config) -> Result:
    """The result with its config dataclass and the named axes of its arrays (from the experiment's declaration)."""
    experiment = get_experiment(result.experiment)
    axes = {name: experiment.axes_of(name) for name in result.arrays}
    return dataclasses.replace(result, typed_config=config, axes={k: v for k, v in axes.items() if v},
                               chapter=experiment.chapter)


def read(path: Path) -> Result:
    """A stored result file (as `store.load_result`, CorruptResultError included) with its config dataclass."""
    result = load_result(path)
    return _typed(result, config_from_dict(get_experiment(result.experiment).config_type, result.config))


def result_path(name: str, preset: str | None = "full", config=None, overrides=None,
                store: Store | None = None) -> Path:
    """Where the result of this experiment, preset/config and overrides is (or would be) stored."""
    experiment, config, _, _, label = resolve(name, preset, config, overrides)
    return (store or Store()).path(experiment.name, config_key(experiment.name, experiment.version, config), label)


def load(name: str, preset: str | None = "full", config=None, store: Store | None = None, *,
         overrides=None) -> Result:
    """The stored result, or MissingResultError naming the command that makes it. With `overrides` (as
    `--set`), the result stored for the preset changed by them, e.g. `load("capacity", overrides={"seeds": 20})`."""
    experiment, config, preset, applied, label = resolve(name, preset, config, overrides)
    store = store or Store()
    key = config_key(experiment.name, experiment.version, config)
    path = store.guard(store.path(experiment.name, key, label))  # read through no link below the results folder
    if not path.exists():
        sets = "".join(f" {s}" for s in set_options(applied))
        how = f"python -m landscape run {name} --preset {preset}{sets}" if preset else \
            "load_or_run(name, config=config)"
        raise MissingResultError(
            f"no stored result for {name} (preset {preset or 'custom'}{' with --set' if applied else ''}, version "
            f"{experiment.version}, key {key}) in {path.parent}",
            hint=f"make it with: {how}" + (" (with LANDSCAPE_COMPUTE=auto)" if compute_policy() == "never" else ""))
    return _typed(load_result(path), config)  # the file's config hashes to `key`: it is this config


def set_options(overrides: dict) -> list[str]:
    """Overrides as the `--set KEY=VALUE` options that give them (tuples comma-separated, nested ones as JSON)."""
    def text(value):
        if isinstance(value, (list, tuple)) and not any(isinstance(v, (list, tuple, dict)) for v in value):
            return ",".join(str(v) for v in value)
        return json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return [f"--set {k}={text(v)}" for k, v in overrides.items()]


def load_or_run(name: str, preset: str | None = "full", config=None, *, device=None, force: bool = False,
                store: Store | None = None, progress: bool = True, overrides=None, executor=None) -> Result:
    """Return the stored result for this experiment/config/version, else compute it (its units on `executor`,
    in-process by default), store it and return it."""
    return run_many([(name, preset, config, overrides)], device=device, force=force, store=store, progress=progress,
                    executor=executor)[0]


@dataclass
class _Run:
    experiment: Any
    config: Any
    preset: str | None
    overrides: dict
    key: str
    path: Path
    plan: Units | None = None
    files: UnitFiles | None = None
    outputs: dict = field(default_factory=dict)
    start: float = 0.0
    commit: str = ""  # the code's commit when the run started (a commit made during a long run is not its code)


def run_many(requests, *, device=None, force: bool = False, store: Store | None = None, progress: bool = True,
             executor=None) -> list[Result]:
    """The results of several (name, preset, config, overrides) requests: stored ones are loaded, the others are
    computed together — every missing unit of every run on one executor (in-process by default), under one
    progress bar — and each result is stored as soon as its last unit is in."""
    store = store or Store()
    results: list[Result | None] = [None] * len(requests)
    todo: list[tuple[int, _Run]] = []
    for j, (name, preset, config, overrides) in enumerate(requests):
        experiment, config, preset, applied, label = resolve(name, preset, config, overrides)
        key = config_key(experiment.name, experiment.version, config)
        path = store.guard(store.path(experiment.name, key, label))  # no link, no folder in a result's place
        if not force and path.exists():
            try:
                results[j] = _typed(load_result(path), config)
                continue
            except CorruptResultError as exc:
                if compute_policy() == "never":
                    raise
                aside = store.guard(path.with_name(path.name + ".corrupt"))
                os.replace(path, aside)  # kept for inspection, never read again; recomputed below
                print(f"warning: {exc}; moved to {aside.name} and recomputing", file=sys.stderr)
        if compute_policy() == "never":
            load(name, preset, config, store, overrides=overrides)  # raises MissingResultError with the command
        todo.append((j, _Run(experiment, config, preset, applied, key, path)))
    if not todo:
        return results
    runtime.start_run()
    device = resolve_device(device)
    executor = executor or InProcess()
    for _, run in todo:  # before anything is written: sizes that cannot fit, then the folders
        if getattr(executor, "local", False):
            check_memory(run.experiment.name, run.config, device)
    for _, run in todo:
        store.check_writable(run.experiment.name)
        run.plan = units_of(run.experiment, run.config)
        run.files = UnitFiles(store.units_dir(run.experiment.name, run.key), run.experiment.name,
                              run.experiment.version, run.key, config_dict(run.config),
                              [unit_id(u) for u in run.plan.units], root=store.root)
        run.files.check()  # a link or a folder in the unit folder's place: refused before anything is deleted
    tasks, owners, done_before = [], [], 0
    for j, run in todo:
        if force:
            run.files.clear()
        run.files.write_plan(len(run.plan.units), [run.plan.label(i) for i in range(len(run.plan.units))],
                             run.preset, run.overrides)
        run.outputs = run.files.load(len(run.plan.units))  # finished before an interruption: kept
        run.start, run.commit = time.perf_counter(), git_commit()
        done_before += len(run.outputs)
        costs = run.plan.costs or (0,) * len(run.plan.units)
        longest_first = sorted(range(len(run.plan.units)), key=lambda i: -costs[i])
        for i, unit in enumerate(run.plan.units):
            if i not in run.outputs:
                tasks.append(Task(run.plan.run, unit, f"{run.experiment.name} {run.plan.label(i)}",
                                  run.files.checkpoint(i), priority=-longest_first.index(i)))
                owners.append((j, run, i))

    def finish(j: int, run: _Run) -> None:
        results[j] = _store(run, device, executor, store)

    def on_done(t: int, arrays, summary, info) -> None:
        j, run, i = owners[t]
        run.files.save(i, arrays, summary, info)
        run.outputs[i] = (arrays, summary, info)
        if len(run.outputs) == len(run.plan.units):
            finish(j, run)

    for j, run in todo:  # every unit already finished before an interruption
        if len(run.outputs) == len(run.plan.units):
            finish(j, run)
    try:
        run_tasks(executor, tasks, device=device, progress=progress, on_done=on_done, done_before=done_before)
    except Exception as exc:
        for _, run in todo:  # a run that never got going leaves no plan behind (`list` would call it started)
            if not run.outputs and run.files.folder.is_dir() and not any(run.files.folder.glob("unit-*")):
                run.files.clear()
        asked = runtime.allocation_failure(exc)
        if asked is None:
            raise
        total = runtime.memory_total(device)
        names = ", ".join(dict.fromkeys(run.experiment.name for _, run in todo))
        raise InsufficientMemoryError(f"{names}: a unit could not allocate its memory (it asked for {asked}"
                                      f"{f'; {_where(device)} has {format_bytes(total)}' if total else ''})") from None
    return results


# Fields the book's configs share that size what a unit holds; `check_memory` reads them, in nested configs too.
RECORD_EVERY_FIELDS = ("record_every", "log_every")


def memory_lower_bound(config) -> tuple[int, str]:
    """A lower bound on the bytes one unit of `config` holds, with how it was reckoned: every member (a seed, a
    setting) of a width-W network keeps at least W weights (4 bytes each), and a run of `steps` that records every
    `record_every` (or `log_every`) steps keeps at least one float64 per record and member. Fields that are absent
    count as nothing, so the bound never exceeds what the run needs; it only catches sizes that cannot fit."""
    seeds = getattr(config, "seeds", None)
    settings = getattr(config, "settings", None)
    members = (len(seeds) if isinstance(seeds, tuple) else seeds if isinstance(seeds, int) and seeds > 0 else 1) \
        * (len(settings) if isinstance(settings, tuple) and settings else 1)
    bounds = [(0, "")]
    widths = getattr(config, "widths", None)
    widths = widths if isinstance(widths, tuple) else (getattr(config, "width", None),)
    widths = [w for w in widths if isinstance(w, int) and not isinstance(w, bool)]
    if widths:
        w = max(widths)
        bounds.append((4 * w * members, f"width {w:,} × {members:,} member(s) × 4 bytes"))
    steps = getattr(config, "steps", None)
    every = next((getattr(config, f) for f in RECORD_EVERY_FIELDS if isinstance(getattr(config, f, None), int)), None)
    if isinstance(steps, int) and every and every > 0:
        records = steps // every + 1
        bounds.append((8 * records * members, f"{records:,} records × {members:,} member(s) × 8 bytes"))
    for f in dataclasses.fields(config) if dataclasses.is_dataclass(config) else ():
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            bounds.append(memory_lower_bound(value))
    return max(bounds)


def check_memory(name: str, config, device) -> None:
    """InsufficientMemoryError, before anything is written, if one unit of `config` needs more memory than `device`
    has (`memory_lower_bound`)."""
    need, how = memory_lower_bound(config)
    total = runtime.memory_total(device)
    if total and need > total:
        raise InsufficientMemoryError(f"{name}: one unit needs at least {format_bytes(need)} of memory ({how}); "
                                      f"{_where(device)} has {format_bytes(total)}")


def _where(device) -> str:
    return "this machine" if torch.device(device).type == "cpu" else f"the GPU ({device})"


def units_of(experiment, config) -> Units:
    """The experiment's units (`Experiment.split`), or the whole run as one unit."""
    if experiment.split is not None:
        return experiment.split(config)
    return Units(((experiment.name, config),), run_whole, None, ("whole run",))


def run_whole(unit, *, device, progress, checkpoint):
    """An experiment that does not split: its whole run as one unit, (name, config)."""
    name, config = unit
    return get_experiment(name).run(config, device=device, progress=progress, checkpoint=checkpoint)


def _store(run: _Run, device, executor, store: Store) -> Result:
    outputs = [run.outputs[i] for i in range(len(run.plan.units))]
    if run.plan.assemble is None:
        arrays, summary = outputs[0][0], outputs[0][1]
    else:
        arrays, summary = run.plan.assemble([o[0] for o in outputs])
    infos = [o[2] for o in outputs]
    prov = provenance(run.experiment, run.preset, device, time.perf_counter() - run.start,
                      max(info["cpu_threads"] for info in infos), commit=run.commit or None)
    prov["units"] = {**executor.describe(), "count": len(infos),
                     "wall_time_s": [info["wall_time_s"] for info in infos],
                     "cpu_time_s": [info.get("cpu_time_s") for info in infos],
                     "ran_on": [f"{info.get('host', '?')}:{info.get('pid', '?')}" for info in infos],
                     "compute_s": round(sum(info["wall_time_s"] for info in infos), 2)}
    if run.overrides:
        prov["overrides"] = run.overrides
    result = Result(run.experiment.name, run.key, config_dict(run.config), arrays, summary, prov)
    save_result(run.path, result)
    run.files.clear()
    return _typed(load_result(run.path), run.config)


@dataclass(frozen=True)
class RegenerationCost:
    """What recomputing every stored result of `make results` costs, from their provenance: how many, the single-core compute
    (display.compute_seconds summed), and the largest unit (what bounds any number of cores)."""
    results: int
    compute_s: float
    largest_unit_s: float


MAKE_RESULTS_PRESETS = ("full", "select")  # what `make results` computes (the selection runs of image and capacity too)


def regeneration_cost(store: Store | None = None) -> RegenerationCost:
    """The cost of `make results` from the stored results of its presets (every `full`, and `select` where an
    experiment has one): the README's and the intro's one source."""
    from .display import compute_seconds
    from .registry import all_experiments
    stored = [load(e.name, preset, store=store) for e in all_experiments() for preset in MAKE_RESULTS_PRESETS
              if preset in e.presets]
    largest = max(max((r.provenance.get("units") or {}).get("cpu_time_s") or [compute_seconds(r)]) for r in stored)
    return RegenerationCost(len(stored), sum(compute_seconds(r) for r in stored), float(largest))
