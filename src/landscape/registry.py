"""The experiment registry. A named experiment (defined in its topic, `landscape.topics.<topic>.experiment`): a
validated config type, presets ("smoke" for CI, "full" for the book), a run function and a drift check.

`run(config, *, device, progress, checkpoint) -> (arrays, summary)` computes a result; `drift_check(config, result, *,
device) -> list[Comparison]` recomputes the first steps of a stored result so a test can compare them with what is
stored (its first `EARLY_STEPS` steps, at the tolerances here: `drift_tolerance`, `early_tolerance`, with the
ensemble sweeps' comparisons `compare_early` and `compare_prefix`). Bump `version` whenever a code change alters
what `run` produces.

An experiment whose work falls into independent units (a width of a sweep, one run of a table) also has
`split(config) -> Units`: the units (small picklable descriptions), a module-level function that runs one, and the
assembly of their outputs into the stored arrays. `landscape.executor` runs the units in-process or on Dask; the
assembled result is the one `run` returns, bit for bit. Experiments without `split` run as a single unit.
"""

from __future__ import annotations

import fnmatch

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .validation import require_choice


@dataclass
class Comparison:
    """A stored array next to its recomputation, with the tolerance they must agree to."""

    name: str
    stored: np.ndarray
    recomputed: np.ndarray
    rtol: float = 1e-6
    atol: float = 1e-9


# ------------------------------------------------------------------------------------------- drift checks
# Drift checks rerun the first EARLY_STEPS steps of a stored run: the runs at η = 1 are chaotic — another CPU kernel
# (AVX-512 vs AVX2 vs none) moves a float32 sweep's losses at step 400 by up to 50 %, and a float64 spiral run parts
# by 4e-3 after 300 steps. The ensemble sweeps keep their objective at every step t ≤ EARLY_STEPS for this check.
EARLY_STEPS = 50


def drift_tolerance(dtype: str) -> tuple[float, float]:
    """(rtol, atol) for what a rerun must reproduce on any CPU kernel: data, initialization, loss at step 0."""
    return (1e-8, 1e-10) if dtype == "float64" else (2e-4, 1e-6)


def early_tolerance(dtype: str) -> tuple[float, float]:
    """(rtol, atol) for the early objective across CPU kernels (measured: ≤ 2e-3 relative in float32 over the
    first 50 steps, between AVX-512 and the default kernels; see docs/DESIGN.md)."""
    return (1e-8, 1e-10) if dtype == "float64" else (2e-2, 1e-5)


def compare_early(stored: dict, recomputed: dict, curves, dtype: str, groups=slice(None)) -> list[Comparison]:
    """The drift check of an ensemble sweep: the recorded curves at step 0 (data, init, loss) at the drift check
    tolerance, and the objective at every step t ≤ EARLY_STEPS at the cross-kernel tolerance. `groups` picks the
    stored groups (widths) that the drift check recomputed."""
    rtol, atol = drift_tolerance(dtype)
    out = [Comparison(f"{name} at step 0", np.asarray(stored[name])[groups, :1], np.asarray(recomputed[name])[:, :1],
                      rtol=rtol, atol=atol) for name in curves]
    rtol, atol = early_tolerance(dtype)
    out.append(Comparison("early_objective", np.asarray(stored["early_objective"])[groups],
                          np.asarray(recomputed["early_objective"]), rtol=rtol, atol=atol))
    return out


def compare_prefix(stored: dict, recomputed: dict, names, rtol: float, atol: float) -> list[Comparison]:
    """Stored (groups, records, members) curves against a short rerun: the records of the rerun's steps."""
    out = []
    steps = np.asarray(recomputed["steps"])
    n = steps.shape[-1]
    for name in names:
        s, r = np.asarray(stored[name]), np.asarray(recomputed[name])
        out.append(Comparison(name, s[:, :n], r, rtol=rtol, atol=atol))
    return out


@dataclass(frozen=True)
class Units:
    """An experiment's independent units of work. `run(unit, *, device, progress, checkpoint) -> arrays` is a
    module-level function (it is pickled by reference to run on another process or machine) that sets its own CPU
    threads and seeds from `unit` alone; `assemble(outputs) -> (arrays, summary)` runs where the client is, on the
    units' outputs in the order of `units`. `labels` name the units for people (progress, `list`); `costs` (relative,
    optional) let an executor with several workers start the longest units first."""

    units: tuple
    run: Callable
    assemble: Callable
    labels: tuple = ()
    costs: tuple = ()

    def label(self, i: int) -> str:
        return self.labels[i] if i < len(self.labels) else f"unit {i}"


@dataclass(frozen=True)
class Experiment:
    name: str
    version: int
    title: str
    chapter: str
    config_type: type
    presets: dict[str, Any]
    run: Callable
    drift_check: Callable
    description: str = ""
    tags: tuple = field(default_factory=tuple)
    split: Callable | None = None  # split(config) -> Units; None: the whole run is one unit
    axes: dict = field(default_factory=dict)  # array name or fnmatch pattern (first match wins) -> axis names

    def axes_of(self, array: str) -> tuple[str, ...]:
        """The named axes of a stored array, e.g. ("width", "record", "member"); () when not declared."""
        return next((tuple(names) for pattern, names in self.axes.items() if fnmatch.fnmatchcase(array, pattern)), ())

    def preset(self, name: str):
        require_choice("preset", name, tuple(self.presets))
        return self.presets[name]


def config_from_dict(config_type, values: dict):
    """Rebuild a (possibly nested) config dataclass from its stored dict (lists back to tuples)."""
    kwargs = {}
    for f in dataclasses.fields(config_type):
        if f.name not in values:
            continue
        value, default = values[f.name], _default(f)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = config_from_dict(type(default), value)
        elif isinstance(value, list):
            value = _tuples(value)
        kwargs[f.name] = value
    return config_type(**kwargs)


def _default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    REGISTRY[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    _load_all()
    require_choice("experiment", name, tuple(sorted(REGISTRY)))
    return REGISTRY[name]


def all_experiments() -> list[Experiment]:
    _load_all()
    return [REGISTRY[k] for k in sorted(REGISTRY)]


# The topics whose `experiment` module registers experiments (`landscape.topics.<topic>.experiment`), imported by
# name so that the registry stays below the topics in the layers.
EXPERIMENT_TOPICS = ("cycle", "image", "lrd_network", "lrd_toy", "size_lr", "spiral", "sweeps")


def _load_all() -> None:
    for topic in EXPERIMENT_TOPICS:
        importlib.import_module(f"landscape.topics.{topic}.experiment")  # registers on import
