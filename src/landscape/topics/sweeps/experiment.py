"""Sweeps of spiral networks over width × training setting × seed, every width one batched ensemble.

A setting is (loss, amplitude A, period T, learning rate η): loss "dce" with A = 1 is plain cross-entropy, "dmse1"
or "dmse2" with A = 1 is MSE. Experiments built on this runner:
- `capacity`   — ICML claims 1–2: train and validation accuracy vs width, plain CE vs the dynamical loss;
- `amp_period` — the amplitude × period map at one under- and one overparameterized width;
- `followup_mse` — the follow-up's losses (DCE, DMSE1, DMSE2) against CE and MSE across sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from ...ensemble import EnsembleMLP
from ...losses import LOSSES, GammaSchedule
from ...models import INITS, torch_dtype
from ...settings import Setting, setting_label
from ...validation import normalize_fields, require, require_choice, require_finite, require_int, require_int_tuple
from ...data import SpiralSplitConfig
from ...executor import run_units
from ...registry import EARLY_STEPS, Experiment, Units, compare_early, register
from ...ensemble_runs import (CURVES, EVALUATION, SELECTION, WidthSweep, plan_runs, run_arrays, stack_groups,
                              validate_splits, width_units)


def validate_settings(settings) -> None:
    """Sweep settings: a non-empty tuple of (loss, A, T, η)."""
    require(len(settings) > 0, "settings", "a non-empty tuple of (loss, A, T, η)", settings)
    for s in settings:
        require(isinstance(s, tuple) and len(s) == 4, "settings", "tuples (loss, A, T, η)", s)
        require_choice("settings loss", s[0], LOSSES)
        require_finite("settings amplitude", s[1], at_least=1.0)
        require_int("settings period", s[2], at_least=1)
        require_finite("settings lr", s[3], positive=True)


def sweep_arrays(config, outputs, width_prefix: str = "w"):
    """Stack the width groups of an ensemble sweep into its stored arrays (curves, member and setting tables, the
    data splits) and a summary of final accuracies per width × setting, keyed f"{width_prefix}{width} {setting}":
    over the evaluation runs, or over the selection runs where there are none (a `select` preset)."""
    arrays = stack_groups(outputs, CURVES + ("diverged_at",) + (("early_objective",) if "early_objective" in outputs[0]
                                                                 else ()))
    arrays["steps"] = outputs[0]["steps"]
    members = config.members()
    runs = config.runs()
    arrays["widths"] = np.array(config.widths)
    arrays["member_setting"] = np.array([k for k, _ in members])
    arrays.update(run_arrays([runs[r] for _, r in members]))
    arrays["split_seeds"] = np.array(config.split_seeds)
    arrays["selection_split_seeds"] = np.array(config.selection_split_seeds, dtype=np.int64)
    arrays["setting_loss"] = np.array([s[0] for s in config.settings])
    arrays["setting_amplitude"] = np.array([float(s[1]) for s in config.settings])
    arrays["setting_period"] = np.array([int(s[2]) for s in config.settings])
    arrays["setting_lr"] = np.array([float(s[3]) for s in config.settings])
    summary = {}
    read = arrays["member_role"] == (EVALUATION if config.split_seeds else SELECTION)
    for i, w in enumerate(config.widths):
        for k, s in enumerate(config.settings):
            m = (arrays["member_setting"] == k) & read
            key = f"{width_prefix}{w} {setting_label(s)}"
            summary[f"{key} train_accuracy"] = float(np.nanmean(arrays["train_accuracy"][i, -1, m]))
            summary[f"{key} validation_accuracy"] = float(np.nanmean(arrays["validation_accuracy"][i, -1, m]))
            summary[f"{key} diverged"] = int((arrays["diverged_at"][i, m] >= 0).sum())
    return arrays, summary


class SettingsSweep(WidthSweep):
    """A width sweep over settings (loss, A, T, η) × runs (`ensemble_runs.WidthSweep`): every setting trains every
    run; a config gives `settings`, `seeds`, `split_seeds`, `selection_split_seeds` and `schedule(setting)`."""

    def runs(self):
        """(initial seed, split seed, role) of each run (`ensemble_runs.plan_runs`): selection runs first."""
        return plan_runs(self.seeds, self.split_seeds, self.selection_split_seeds)

    def members(self):
        """(setting index, run index) of each member of one width's ensemble (setting-major)."""
        return [(k, r) for k in range(len(self.settings)) for r in range(len(self.runs()))]

    def member_training(self, i: int):
        """(loss, η, Γ schedule) of member i: those of its setting."""
        setting = self.settings[self.members()[i][0]]
        return setting[0], setting[3], self.schedule(setting)


@dataclass(frozen=True)
class SweepConfig(SettingsSweep):
    """widths × settings × runs on spiral splits; settings are (loss, A, T, η) tuples. Each data split (the
    `selection_split_seeds`, then the `split_seeds`) gets `seeds` runs, each from its own initial weights; every
    setting trains every run. Settings are picked on the selection runs and evaluated on the others."""

    widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
    settings: tuple[Setting, ...] = (("dce", 1.0, 500, 1.0), ("dce", 10.0, 500, 1.0), ("dce", 70.0, 500, 1.0),
                       ("dce", 70.0, 2000, 1.0))
    seeds: int = 4
    split_seeds: tuple[int, ...] = (1, 2, 3)
    selection_split_seeds: tuple[int, ...] = (0,)
    steps: int = 24_000
    final_plain_steps: int = 4_000
    record_every: int = 400
    init: str = "ntk2021"
    dtype: str = "float32"
    data: SpiralSplitConfig = field(default_factory=SpiralSplitConfig)

    def __post_init__(self):
        normalize_fields(self)
        require_int_tuple("widths", self.widths, at_least=1)
        validate_settings(self.settings)
        require_int("seeds", self.seeds, at_least=1)
        validate_splits(self.split_seeds, self.selection_split_seeds)
        require_int("steps", self.steps, at_least=1)
        require_int("record_every", self.record_every, at_least=1)
        require(self.steps % self.record_every == 0, "record_every", "a divisor of steps", self.record_every)
        require_int("final_plain_steps", self.final_plain_steps, at_least=0)
        require(self.final_plain_steps < self.steps, "final_plain_steps", f"< steps ({self.steps})",
                self.final_plain_steps)
        require_choice("init", self.init, INITS)
        torch_dtype(self.dtype)

    def schedule(self, setting) -> GammaSchedule | None:
        _, A, T, _ = setting
        return None if A == 1 else GammaSchedule(3, float(A), int(T), self.steps,
                                                 final_plain_steps=self.final_plain_steps)

    def make_data(self, split_seed: int, device):
        return replace(self.data, split_seed=split_seed).make(torch_dtype(self.dtype), device)

    def make_model(self, width: int, seeds, device):
        return EnsembleMLP.init(2, width, 3, seeds, init=self.init, dtype=self.dtype, device=device)


def split_sweep(config: SweepConfig, until=None) -> Units:
    return width_units(config, partial(sweep_arrays, config), until)


def run_sweep(config: SweepConfig, *, device, progress=True, checkpoint=None, until=None):
    return run_units(split_sweep(config, until), device=device, progress=progress, checkpoint=checkpoint)


def drift_check_sweep(config: SweepConfig, result, *, device):
    small = replace(config, widths=config.widths[:1] + config.widths[-1:]) if len(config.widths) > 2 else config
    arrays, _ = run_sweep(small, device=device, progress=False, until=EARLY_STEPS)
    keep = [0, len(config.widths) - 1] if len(config.widths) > 2 else list(range(len(config.widths)))
    return compare_early(result.arrays, arrays, CURVES, config.dtype, groups=keep)


SWEEP_AXES = {"train_*": ("width", "record", "member"), "validation_*": ("width", "record", "member"),
              "early_objective": ("width", "early_step", "member"), "diverged_at": ("width", "member"),
              "steps": ("record",), "widths": ("width",), "member_*": ("member",), "setting_*": ("setting",),
              "split_seeds": ("split",), "selection_split_seeds": ("selection_split",)}


def register_sweep(name: str, version: int, title: str, chapter: str, full: SweepConfig, smoke: SweepConfig,
                   description: str, **more_presets: SweepConfig) -> None:
    register(Experiment(name=name, version=version, title=title, chapter=chapter, config_type=SweepConfig,
                        presets={"full": full, "smoke": smoke, **more_presets}, run=run_sweep,
                        drift_check=drift_check_sweep,
                        description=description, split=split_sweep, axes=SWEEP_AXES))


SMOKE_DATA = SpiralSplitConfig(points_per_class=40)
SMOKE = dict(seeds=1, steps=200, final_plain_steps=40, record_every=20, data=SMOKE_DATA)

CAPACITY_AT = ((1.0, 500), (10.0, 500), (70.0, 500), (70.0, 2000))  # (A, T): plain CE, then the dynamical settings
CAPACITY_LR_GRID = (0.3, 1.0, 3.0)  # each loss's η tried on the selection runs (`select` preset), fixed before them
# The η of each loss in the full preset: what `capacity.analysis.select_lrs` picks from the stored `select` result
# (tests/test_capacity_lr.py checks it, and the claims read both results).
CAPACITY_LRS = {"CE": 1.0, "DCE": 1.0}


def capacity_settings(lrs=CAPACITY_LRS, at=CAPACITY_AT, loss="dce") -> tuple:
    """Plain CE (A = 1) at lrs["CE"], the dynamical settings at lrs["DCE"]."""
    return tuple((loss, float(A), int(T), float(lrs["CE" if A == 1 else "DCE"])) for A, T in at)


def lr_grid_settings(lrs=CAPACITY_LR_GRID, at=CAPACITY_AT) -> tuple:
    """Every setting of `at` at every η of the grid (η-major): the `select` preset's settings."""
    return tuple(s for lr in lrs for s in capacity_settings({"CE": lr, "DCE": lr}, at))


register_sweep(
    "capacity", 4, "ICML claims 1–2: accuracy vs width, plain CE vs the dynamical loss", "capacity",
    full=SweepConfig(settings=capacity_settings()),
    smoke=SweepConfig(widths=(4, 32), settings=(("dce", 1.0, 20, 1.0), ("dce", 70.0, 20, 1.0)), **SMOKE),
    select=SweepConfig(settings=lr_grid_settings(), split_seeds=(), selection_split_seeds=(0,)),
    description="Spiral, 2-w-3 ReLU nets (2021 init, float32), widths 4…512, plain CE and three (A, T) settings of "
                "the dynamical loss, full-batch GD for 24k steps, the last 4k plain CE; 4 data splits × 4 initial "
                "seeds: split 0 selects the setting, splits 1–3 (12 runs) evaluate it. Each loss's η is picked on "
                "split 0 from {0.3, 1, 3} (the `select` preset: split 0's runs only).")


def amp_period_settings(amplitudes, periods, lr=1.0, loss="dce") -> tuple:
    """Plain CE once (A = 1: the period does not matter), then every (A > 1, T) of the grid."""
    return ((loss, 1.0, int(periods[0]), float(lr)),) + tuple(
        (loss, float(A), int(T), float(lr)) for A in amplitudes if A > 1 for T in periods)


register_sweep(
    "amp_period", 4, "Amplitude × period map at an under- and an overparameterized width", "amp_period",
    full=SweepConfig(widths=(64, 256), settings=amp_period_settings((3.0, 10.0, 30.0, 70.0), (100, 400, 1600)),
                     selection_split_seeds=()),
    smoke=SweepConfig(widths=(4, 32), settings=amp_period_settings((10.0,), (10, 40)), selection_split_seeds=(),
                      **SMOKE),
    description="Spiral, widths 64 and 256, A ∈ {1, 3, 10, 30, 70} × T ∈ {100, 400, 1600}, full-batch GD η = 1 for "
                "24k steps, the last 4k plain CE; 3 data splits × 4 initial seeds (every cell read, Bonferroni-"
                "corrected for the 12 cells: no selection runs).")


def mse_family_settings(amplitude=10.0, period=500, lrs=(0.03, 0.1, 0.3, 1.0)) -> tuple:
    """MSE, DMSE1 and DMSE2 (the book's reading of the follow-up's losses), each at every learning rate."""
    return tuple(s for lr in lrs for s in (("dmse1", 1.0, int(period), float(lr)),
                                           ("dmse1", float(amplitude), int(period), float(lr)),
                                           ("dmse2", float(amplitude), int(period), float(lr))))


register_sweep(
    "followup_mse", 4, "Follow-up: MSE, DMSE1 and DMSE2 across sizes (CE and DCE from `capacity`)", "followup_mse",
    full=SweepConfig(widths=(16, 64, 256), settings=mse_family_settings()),
    smoke=SweepConfig(widths=(4, 32), settings=mse_family_settings(10.0, 20, (0.2,)), **SMOKE),
    description="Spiral, widths 16/64/256, MSE and the two dynamical MSE losses (A = 10, T = 500), each at η ∈ "
                "{0.03, 0.1, 0.3, 1}, full-batch GD for 24k steps, the last 4k plain; 4 data splits × 4 initial seeds: "
                "split 0 selects each loss's η, splits 1–3 (12 runs) evaluate it.")
