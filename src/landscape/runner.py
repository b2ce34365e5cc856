"""Experiments meet results: `load_or_run(name, preset)` returns the stored result of an experiment for that exact
config and experiment version, or computes it (with a progress bar, resumable) and stores it with its provenance.

The only module besides the `registry` itself and the command line that knows the experiment registry. Results
returned here carry their config dataclass as `typed_config` (the file layer, `store`, keeps the stored dict).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from . import runtime
from .registry import config_from_dict, get_experiment
from .runtime import Checkpoint, compute_policy, resolve_device
from .store import (CorruptResultError, MissingResultError, Result, Store, config_dict, config_key, load_result,
                    provenance, save_result)


def resolve(name: str, preset: str | None = "full", config=None):
    """(experiment, config, preset label) for a registered experiment name and a preset or explicit config."""
    experiment = get_experiment(name)
    if config is None:
        config = experiment.preset(preset)
    elif preset is not None and config != experiment.presets.get(preset):
        preset = None
    return experiment, config, preset


def _typed(result: Result, config) -> Result:
    return dataclasses.replace(result, typed_config=config)


def read(path: Path) -> Result:
    """A stored result file (as `store.load_result`, CorruptResultError included) with its config dataclass."""
    result = load_result(path)
    return _typed(result, config_from_dict(get_experiment(result.experiment).config_type, result.config))


def load(name: str, preset: str | None = "full", config=None, store: Store | None = None) -> Result:
    """The stored result, or MissingResultError naming the command that makes it."""
    experiment, config, preset = resolve(name, preset, config)
    store = store or Store()
    key = config_key(experiment.name, experiment.version, config)
    path = store.path(experiment.name, key, preset)
    if not path.exists():
        how = f"python -m landscape run {name} --preset {preset}" if preset else "load_or_run(name, config=config)"
        raise MissingResultError(
            f"no stored result for {name} (preset {preset or 'custom'}, version {experiment.version}, key {key}) "
            f"in {path.parent}", hint=f"make it with: {how}" + (" (with LANDSCAPE_COMPUTE=auto)"
                                                                 if compute_policy() == "never" else ""))
    return _typed(load_result(path), config)  # the file's config hashes to `key`: it is this config


def load_or_run(name: str, preset: str | None = "full", config=None, *, device=None, force: bool = False,
                store: Store | None = None, progress: bool = True) -> Result:
    """Return the stored result for this experiment/config/version, else compute it, store it and return it."""
    experiment, config, preset = resolve(name, preset, config)
    store = store or Store()
    key = config_key(experiment.name, experiment.version, config)
    path = store.path(experiment.name, key, preset)
    if not force and path.exists():
        try:
            return _typed(load_result(path), config)
        except CorruptResultError as exc:
            if compute_policy() == "never":
                raise
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)  # kept for inspection, never read again; recomputed below
            print(f"warning: {exc}; moved to {aside.name} and recomputing", file=sys.stderr)
    if compute_policy() == "never":
        load(name, preset, config, store)  # raises MissingResultError with the command to run
    runtime.start_run()
    device = resolve_device(device)
    store.check_writable(experiment.name)
    checkpoint = Checkpoint(store.checkpoint_path(experiment.name, key))
    start = time.perf_counter()
    arrays, summary = experiment.run(config, device=device, progress=progress, checkpoint=checkpoint)
    result = Result(experiment.name, key, config_dict(config), arrays, summary,
                    provenance(experiment, preset, device, time.perf_counter() - start, runtime.threads_in_run()))
    save_result(path, result)
    checkpoint.clear()
    return _typed(load_result(path), config)
