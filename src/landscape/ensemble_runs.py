"""Shared pieces of the ensemble experiments: the spiral train/validation split, resumable groups of ensemble runs,
and the drift check of stored ensemble curves."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from .data import Dataset, spiral_split
from .ensemble import EnsembleLog, train_ensemble
from .losses import LOSSES
from .runtime import Checkpoint, cpu_threads
from .validation import normalize_fields, require, require_finite, require_int
from .registry import Comparison, Units


@dataclass(frozen=True)
class SpiralSplitConfig:
    """Data split `split_seed`: its own draw of the authors' spiral generator (noise 0.2, `points_per_class` points
    per class), split at random within each class into training and validation halves; two splits share no point
    (`data.spiral_split`). The follow-up's split is unknown; this one is ours."""

    points_per_class: int = 200
    validation_fraction: float = 0.5
    noise: float = 0.2
    seed: int = 0
    split_seed: int = 0

    def __post_init__(self):
        normalize_fields(self)
        require_int("points_per_class", self.points_per_class, at_least=2)
        require_finite("validation_fraction", self.validation_fraction)
        require(0 < self.validation_fraction < 1, "validation_fraction", "in (0, 1)", self.validation_fraction)
        require_finite("noise", self.noise, at_least=0.0)
        require_int("seed", self.seed)
        require_int("split_seed", self.split_seed)

    def make(self, dtype, device) -> tuple[Dataset, Dataset]:
        train, val = spiral_split(self.points_per_class, self.validation_fraction, self.noise, self.seed,
                                  self.split_seed, dtype=dtype)
        return train.to(device), val.to(device)


SELECTION, EVALUATION = "selection", "evaluation"


def plan_runs(seeds: int, split_seeds, selection_split_seeds=()) -> tuple[tuple[int, int, str], ...]:
    """(initial seed, split seed, role) of every run of a sweep: `seeds` runs on each data split, the selection
    splits first. Run r starts from initial seed r, so no two runs share their weights, and the runs that select
    hyper-parameters (role "selection") share neither weights nor split with those that evaluate them."""
    splits = [(s, SELECTION) for s in selection_split_seeds] + [(s, EVALUATION) for s in split_seeds]
    return tuple((i * seeds + j, s, role) for i, (s, role) in enumerate(splits) for j in range(seeds))


def validate_splits(split_seeds, selection_split_seeds) -> None:
    require(len(split_seeds) > 0, "split_seeds", "a non-empty tuple of data-split seeds", split_seeds)
    for name, seeds in (("split_seeds", split_seeds), ("selection_split_seeds", selection_split_seeds)):
        for s in seeds:
            require_int(name, s)
        require(len(set(seeds)) == len(seeds), name, "distinct seeds", seeds)
    require(not set(split_seeds) & set(selection_split_seeds), "selection_split_seeds",
            "seeds disjoint from split_seeds (selection and evaluation use different data splits)",
            selection_split_seeds)


def run_arrays(runs) -> dict[str, np.ndarray]:
    """The stored description of a sweep's runs, per member: initial seed, data split, role."""
    return {"member_seed": np.array([r[0] for r in runs]), "member_split": np.array([r[1] for r in runs]),
            "member_role": np.array([r[2] for r in runs])}


def log_arrays(log: EnsembleLog) -> dict[str, np.ndarray]:
    """An ensemble log as named arrays: (records, members) curves, probes, divergence."""
    out = {"steps": log.steps, "train_objective": log.objective, "train_loss": log.static_loss,
           "train_accuracy": log.accuracy, "diverged_at": log.diverged_at}
    for name, d in log.evals.items():
        out[f"{name}_loss"], out[f"{name}_accuracy"] = d["loss"], d["accuracy"]
    for name, (steps, values) in log.probes.items():
        out[f"{name}_steps"], out[name] = steps, values
    if log.early_objective is not None:
        out["early_objective"] = log.early_objective
    return out


def run_groups(groups: list[Callable], *, progress: bool, checkpoint: Checkpoint | None,
               description: str) -> list[dict[str, np.ndarray]]:
    """Run `group(checkpoint, progress) -> arrays` for each group in order. Finished groups are kept in the
    checkpoint, and the group in progress has its own, so an interrupted sweep resumes where it stopped."""
    state = checkpoint.load() if checkpoint is not None else None
    done = list(state["done"]) if state is not None and state.get("groups") == len(groups) else []
    bar = tqdm(total=len(groups), initial=len(done), desc=description, disable=not progress or len(groups) < 2)
    for i in range(len(done), len(groups)):
        inner = checkpoint.sub(f"group{i}") if checkpoint is not None else None
        arrays = groups[i](inner, progress)
        done.append({k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()})
        if checkpoint is not None:
            checkpoint.save({"done": done, "groups": len(groups)})
            inner.clear()
        bar.update(1)
    bar.close()
    return [{k: v.numpy() for k, v in d.items()} for d in done]


def _unit_group(run_unit: Callable, unit, device, checkpoint, progress):
    return run_unit(unit, device=device, progress=progress, checkpoint=checkpoint)


def run_units(plan: Units, *, device, progress: bool, checkpoint: Checkpoint | None, description: str):
    """An experiment's units run here, one after the other (resumable as `run_groups`), then assembled: the
    in-process path of `landscape.executor`, for `run` and the drift check's short reruns."""
    outputs = run_groups([partial(_unit_group, plan.run, unit, device) for unit in plan.units], progress=progress,
                         checkpoint=checkpoint, description=description)
    return plan.assemble(outputs)


CURVES = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")


class WidthSweep:
    """What `train_width` asks of a sweep's config (a frozen dataclass subclassing this), besides `widths`,
    `record_every`, `runs()` ((initial seed, split seed, role) of each run, `plan_runs`) and `members()` ((key, run
    index) of each member of one width's ensemble):

    - `member_training(i) -> (loss, lr, schedule)`: member i's loss (one of LOSSES), η and Γ schedule (None: Γ ≡ 1);
    - `make_data(split_seed, device) -> (training, validation)`: the data of one split;
    - `make_model(width, seeds, device) -> EnsembleModel`: the ensemble of one width, member e from `seeds[e]`;
    - `probes(train, loss) -> list[Probe]`: measurements along the way (none by default)."""

    def member_training(self, i: int):
        raise NotImplementedError

    def make_data(self, split_seed: int, device):
        raise NotImplementedError

    def make_model(self, width: int, seeds, device):
        raise NotImplementedError

    def probes(self, train: Dataset, loss: str) -> list:
        return []


def member_groups(config: WidthSweep):
    """Member indices of one width grouped by (loss, data split), losses in the order of LOSSES and splits in the
    order of the runs: the members of a batched ensemble share their loss and their training data."""
    runs, members = config.runs(), config.members()
    losses = [config.member_training(i)[0] for i in range(len(members))]
    groups = []
    for kind in (k for k in LOSSES if k in losses):
        for split in dict.fromkeys(r[1] for r in runs):
            idx = [i for i, (_, r) in enumerate(members) if losses[i] == kind and runs[r][1] == split]
            if idx:
                groups.append((kind, split, idx))
    return groups


def train_width(unit, *, device, progress=False, checkpoint=None) -> dict:
    """One unit of a width sweep: (config, width, steps), every member of that width as batched ensembles (one per
    loss and data split, `member_groups`), on one CPU thread; their curves, divergence, early objective and probes
    merged over the members (`merge_members`)."""
    config, width, steps = unit
    runs, members = config.runs(), config.members()
    with cpu_threads(1, device):
        parts, probe_names = [], []
        for kind, split, idx in member_groups(config):
            train, val = config.make_data(split, device)
            model = config.make_model(width, [runs[members[i][1]][0] for i in idx], device)
            training = [config.member_training(i) for i in idx]
            probes = config.probes(train, kind)
            probe_names = [p.name for p in probes]
            log = train_ensemble(model, train, loss=kind, schedules=[t[2] for t in training],
                                 lr=[t[1] for t in training], steps=steps, record_every=config.record_every,
                                 eval_sets={"validation": val}, probes=probes,
                                 checkpoint=checkpoint.sub(f"{kind}-split{split}") if checkpoint is not None else None,
                                 progress=progress, description=f"width {width} {kind} split {split}",
                                 early_steps=EARLY_STEPS)
            parts.append((idx, log_arrays(log)))
        out = merge_members(parts, len(members), CURVES + ("diverged_at", "early_objective") + tuple(probe_names))
        for name in probe_names:
            out[f"{name}_steps"] = parts[0][1][f"{name}_steps"]
        return out


def width_units(config: WidthSweep, assemble: Callable, until=None) -> Units:
    """One unit per width (each width is one batched ensemble per loss and split; its members are not split
    further, so the stored bits do not depend on how the sweep is run), `train_width` on each; wider units cost
    more and start first. `assemble(outputs) -> (arrays, summary)`."""
    steps = config.steps if until is None else min(until, config.steps)
    return Units(tuple((config, w, steps) for w in config.widths), train_width, assemble,
                 tuple(f"width {w}" for w in config.widths), costs=config.widths)


def merge_members(parts, members: int, names) -> dict[str, np.ndarray]:
    """One width's arrays from the ensembles it was split into (one per loss kind): `parts` is a list of
    (member indices, log arrays); each named array's last axis is the member axis. Adds the recorded steps."""
    out = {}
    for name in names:
        first = parts[0][1][name]
        full = np.full(first.shape[:-1] + (members,), np.nan if first.dtype.kind == "f" else -1, dtype=first.dtype)
        for idx, arrays in parts:
            full[..., idx] = arrays[name]
        out[name] = full
    out["steps"] = parts[0][1]["steps"]
    return out


def stack_groups(outputs: list[dict[str, np.ndarray]], keys=None) -> dict[str, np.ndarray]:
    """Stack each named array over groups (axis 0); arrays that differ in shape are padded with NaN."""
    keys = keys or outputs[0].keys()
    out = {}
    for k in keys:
        arrays = [np.asarray(o[k]) for o in outputs]
        shape = tuple(max(s) for s in zip(*(a.shape for a in arrays)))
        if all(a.shape == shape for a in arrays):
            out[k] = np.stack(arrays)
        else:
            fill = np.nan if arrays[0].dtype.kind == "f" else -1
            padded = np.full((len(arrays),) + shape, fill, dtype=np.result_type(*arrays, np.float64)
                             if fill is np.nan else arrays[0].dtype)
            for i, a in enumerate(arrays):
                padded[(i,) + tuple(slice(0, n) for n in a.shape)] = a
            out[k] = padded
    return out


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


# Ensemble sweeps keep their objective at every step t ≤ EARLY_STEPS: the drift check compares that, because float32
# runs at η = 1 are chaotic — another CPU kernel (AVX-512 vs AVX2 vs none) moves the losses at step 400 by up to 50 %.
EARLY_STEPS = 50


def drift_tolerance(dtype: str) -> tuple[float, float]:
    return (1e-8, 1e-10) if dtype == "float64" else (2e-4, 1e-6)


def early_tolerance(dtype: str) -> tuple[float, float]:
    """(rtol, atol) for the early objective across CPU kernels (measured: ≤ 2e-3 relative in float32 over the
    first 50 steps, between AVX-512 and the default kernels; see docs/DESIGN.md)."""
    return (1e-8, 1e-10) if dtype == "float64" else (2e-2, 1e-5)
