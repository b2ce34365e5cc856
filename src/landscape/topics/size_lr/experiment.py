"""Follow-up (Lavin & Ruiz-Garcia 2024), Fig. 1: how network size and learning rate change the depth and the
sharpness of the minima plain cross-entropy finds — three widths × two learning rates, 20 seeds each, training
loss, validation accuracy and Hessian λ_max averaged over the seeds.

All seeds and both learning rates of one width train together as one batched ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from ...ensemble import EnsembleMLP, hessian_probe
from ...models import INITS, torch_dtype
from ...validation import normalize_fields, require, require_choice, require_finite, require_int, require_int_tuple
from ...data import SpiralSplitConfig
from ...executor import run_units
from ...registry import EARLY_STEPS, Experiment, Units, compare_early, compare_prefix, register
from ...ensemble_runs import CURVES, WidthSweep, plan_runs, run_arrays, stack_groups, validate_splits, width_units


@dataclass(frozen=True)
class SizeLRConfig(WidthSweep):
    """A width sweep (`ensemble_runs.WidthSweep`) of plain CE: widths × learning rates × runs, the Hessian λ_max
    every `hessian_every` steps (0: never)."""

    widths: tuple[int, ...] = (8, 64, 512)
    lrs: tuple[float, ...] = (0.1, 1.0)
    seeds: int = 5  # per data split
    split_seeds: tuple[int, ...] = (0, 1, 2, 3)
    steps: int = 20_000
    record_every: int = 50
    hessian_every: int = 250
    lanczos_steps: int = 20
    init: str = "ntk2021"
    dtype: str = "float32"
    data: SpiralSplitConfig = field(default_factory=SpiralSplitConfig)

    def __post_init__(self):
        normalize_fields(self)
        require_int_tuple("widths", self.widths, at_least=1)
        require(len(self.lrs) > 0, "lrs", "a non-empty tuple of numbers", self.lrs)
        for lr in self.lrs:
            require_finite("lrs", lr, positive=True)
        require_int("seeds", self.seeds, at_least=1)
        validate_splits(self.split_seeds, ())
        require_int("steps", self.steps, at_least=1)
        require_int("record_every", self.record_every, at_least=1)
        require(self.steps % self.record_every == 0, "record_every", "a divisor of steps", self.record_every)
        require_int("hessian_every", self.hessian_every)
        require_int("lanczos_steps", self.lanczos_steps, at_least=1)
        require_choice("init", self.init, INITS)
        torch_dtype(self.dtype)

    def runs(self):
        """(initial seed, split seed, role) of each run: `seeds` runs on each data split (no selection runs: this
        sweep picks nothing)."""
        return plan_runs(self.seeds, self.split_seeds)

    def members(self):
        """(lr, run index) of each member of one width's ensemble."""
        return [(float(lr), r) for lr in self.lrs for r in range(len(self.runs()))]

    def member_training(self, i: int):
        """(loss, η, Γ schedule) of member i: plain CE at its learning rate."""
        return "dce", self.members()[i][0], None

    def make_data(self, split_seed: int, device):
        return replace(self.data, split_seed=split_seed).make(torch_dtype(self.dtype), device)

    def make_model(self, width: int, seeds, device):
        return EnsembleMLP.init(2, width, 3, seeds, init=self.init, dtype=self.dtype, device=device)

    def probes(self, train, loss: str) -> list:
        """The Hessian λ_max of every member, every `hessian_every` steps."""
        return [hessian_probe(train, loss, None, self.hessian_every, self.lanczos_steps)] if self.hessian_every \
            else []


def split_size_lr(config: SizeLRConfig, until=None) -> Units:
    """One unit per width: `ensemble_runs.train_width`."""
    return width_units(config, partial(assemble_size_lr, config), until)


def run_size_lr(config: SizeLRConfig, *, device, progress=True, checkpoint=None, until=None):
    return run_units(split_size_lr(config, until), device=device, progress=progress, checkpoint=checkpoint)


def assemble_size_lr(config: SizeLRConfig, outputs):
    arrays = stack_groups(outputs)
    arrays["steps"] = outputs[0]["steps"]
    if "hessian_max_steps" in arrays:
        arrays["hessian_max_steps"] = outputs[0]["hessian_max_steps"]
    members = config.members()
    arrays["widths"] = np.array(config.widths)
    arrays["member_lr"] = np.array([lr for lr, _ in members])
    runs = config.runs()
    arrays.update(run_arrays([runs[r] for _, r in members]))
    arrays["split_seeds"] = np.array(config.split_seeds)
    summary = {}
    for i, w in enumerate(config.widths):
        for lr in config.lrs:
            m = arrays["member_lr"] == lr
            key = f"w{w}_lr{lr:g}"
            summary[f"{key}_train_loss"] = float(np.nanmean(arrays["train_loss"][i, -1, m]))
            summary[f"{key}_validation_accuracy"] = float(np.nanmean(arrays["validation_accuracy"][i, -1, m]))
            if "hessian_max" in arrays:
                summary[f"{key}_hessian_max"] = float(np.nanmean(arrays["hessian_max"][i, -1, m]))
            summary[f"{key}_diverged"] = int((arrays["diverged_at"][i, m] >= 0).sum())
    return arrays, summary


def drift_check_size_lr(config: SizeLRConfig, result, *, device):
    arrays, _ = run_size_lr(config, device=device, progress=False, until=EARLY_STEPS)
    out = compare_early(result.arrays, arrays, CURVES, config.dtype)
    if config.hessian_every:  # the probe at step 0
        out += compare_prefix({"h": result["hessian_max"][:, :1]}, {"h": arrays["hessian_max"][:, :1],
                                                                    "steps": np.zeros(1)}, ["h"], 1e-3, 1e-6)
    return out


FULL = SizeLRConfig()
SMOKE = SizeLRConfig(widths=(4, 16), lrs=(0.1, 1.0), seeds=1, steps=200, record_every=20, hessian_every=100,
                     lanczos_steps=10, data=SpiralSplitConfig(points_per_class=40))

SIZE_LR_AXES = {"hessian_max_steps": ("hessian_record",), "hessian_max": ("width", "hessian_record", "member"),
                "train_*": ("width", "record", "member"), "validation_*": ("width", "record", "member"),
                "early_objective": ("width", "early_step", "member"), "diverged_at": ("width", "member"),
                "steps": ("record",), "widths": ("width",), "member_*": ("member",), "split_seeds": ("split",)}

register(Experiment(
    name="size_lr", version=4, title="Follow-up Fig. 1: network size × learning rate, plain CE, 20 runs",
    chapter="size_lr", config_type=SizeLRConfig, presets={"full": FULL, "smoke": SMOKE},
    run=run_size_lr, drift_check=drift_check_size_lr, split=split_size_lr, axes=SIZE_LR_AXES,
    description="Spiral (4 of our train/validation splits × 5 initial seeds = 20 runs), 2-w-3 ReLU nets (2021 init, "
                "float32), widths 8/64/512 × η = 0.1/1, full-batch GD on plain CE for 20k steps; Hessian λ_max every "
                "250 steps."))
