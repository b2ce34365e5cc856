"""Runs of batched ensembles, as the sweeps make them: the run plan (initial seed, data split and role of every run,
`plan_runs`), one width of a sweep as one unit (`train_width` on a `WidthSweep` config: every member of that width,
one batched ensemble per loss and data split; `width_units`), and the arrays of a unit (`merge_members`) and of a
sweep (`stack_groups`)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .data import Dataset
from .ensemble import train_ensemble
from .losses import LOSSES
from .registry import EARLY_STEPS, Units
from .runtime import cpu_threads
from .validation import require, require_int

SELECTION, EVALUATION = "selection", "evaluation"


def plan_runs(seeds: int, split_seeds, selection_split_seeds=()) -> tuple[tuple[int, int, str], ...]:
    """(initial seed, split seed, role) of every run of a sweep: `seeds` runs on each data split, the selection
    splits first. Run r starts from initial seed r, so no two runs share their weights, and the runs that select
    hyper-parameters (role "selection") share neither weights nor split with those that evaluate them."""
    splits = [(s, SELECTION) for s in selection_split_seeds] + [(s, EVALUATION) for s in split_seeds]
    return tuple((i * seeds + j, s, role) for i, (s, role) in enumerate(splits) for j in range(seeds))


def validate_splits(split_seeds, selection_split_seeds) -> None:
    """Evaluation and selection data splits: distinct integer seeds, the two sets disjoint. A sweep of selection runs
    only (a `select` preset: it picks hyper-parameters, nothing is evaluated) has no evaluation splits."""
    require(len(split_seeds) > 0 or len(selection_split_seeds) > 0, "split_seeds",
            "a non-empty tuple of data-split seeds (or selection_split_seeds alone, for selection runs only)",
            split_seeds)
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
            parts.append((idx, log.arrays()))
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
