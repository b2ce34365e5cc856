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

from . import runtime
from .executor import InProcess, Task, UnitFiles, run_tasks
from .registry import Units, config_from_dict, get_experiment
from .runtime import compute_policy, resolve_device
from .store import (CorruptResultError, MissingResultError, Result, Store, config_dict, config_key, load_result,
                    provenance, save_result)
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
    return dataclasses.replace(result, typed_config=config, axes={k: v for k, v in axes.items() if v})


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
    path = store.path(experiment.name, key, label)
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
        path = store.path(experiment.name, key, label)
        if not force and path.exists():
            try:
                results[j] = _typed(load_result(path), config)
                continue
            except CorruptResultError as exc:
                if compute_policy() == "never":
                    raise
                aside = path.with_name(path.name + ".corrupt")
                os.replace(path, aside)  # kept for inspection, never read again; recomputed below
                print(f"warning: {exc}; moved to {aside.name} and recomputing", file=sys.stderr)
        if compute_policy() == "never":
            load(name, preset, config, store, overrides=overrides)  # raises MissingResultError with the command
        todo.append((j, _Run(experiment, config, preset, applied, key, path)))
    if not todo:
        return results
    runtime.start_run()
    device = resolve_device(device)
    for _, run in todo:
        store.check_writable(run.experiment.name)
    executor = executor or InProcess()
    tasks, owners, done_before = [], [], 0
    for j, run in todo:
        run.plan = units_of(run.experiment, run.config)
        run.files = UnitFiles(store.units_dir(run.experiment.name, run.key), run.experiment.name,
                              run.experiment.version, run.key, config_dict(run.config))
        if force:
            run.files.clear()
        run.files.write_plan(len(run.plan.units), [run.plan.label(i) for i in range(len(run.plan.units))],
                             run.preset, run.overrides)
        run.outputs = run.files.load(len(run.plan.units))  # finished before an interruption: kept
        run.start = time.perf_counter()
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
    run_tasks(executor, tasks, device=device, progress=progress, on_done=on_done, done_before=done_before)
    return results


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
                      max(info["cpu_threads"] for info in infos))
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
