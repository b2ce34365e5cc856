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

from ...ensemble import EnsembleMLP, train_ensemble
from ...losses import LOSSES, GammaSchedule
from ...models import INITS, torch_dtype
from ...runtime import cpu_threads
from ...settings import Setting, setting_label
from ...validation import normalize_fields, require, require_choice, require_finite, require_int, require_int_tuple
from ...registry import Experiment, Units, register
from ...ensemble_runs import (EARLY_STEPS, SpiralSplitConfig, compare_early, log_arrays, merge_members, run_units,
                              stack_groups)

CURVES = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")


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
    """Stack the width groups of an ensemble sweep into its stored arrays (curves, member and setting tables) and a
    summary of final accuracies per width × setting, keyed f"{width_prefix}{width} {setting}"."""
    arrays = stack_groups(outputs, CURVES + ("diverged_at",) + (("early_objective",) if "early_objective" in outputs[0]
                                                                 else ()))
    arrays["steps"] = outputs[0]["steps"]
    members = config.members()
    arrays["widths"] = np.array(config.widths)
    arrays["member_setting"] = np.array([k for k, _ in members])
    arrays["member_seed"] = np.array([s for _, s in members])
    arrays["setting_loss"] = np.array([s[0] for s in config.settings])
    arrays["setting_amplitude"] = np.array([float(s[1]) for s in config.settings])
    arrays["setting_period"] = np.array([int(s[2]) for s in config.settings])
    arrays["setting_lr"] = np.array([float(s[3]) for s in config.settings])
    summary = {}
    for i, w in enumerate(config.widths):
        for k, s in enumerate(config.settings):
            m = arrays["member_setting"] == k
            key = f"{width_prefix}{w} {setting_label(s)}"
            summary[f"{key} train_accuracy"] = float(np.nanmean(arrays["train_accuracy"][i, -1, m]))
            summary[f"{key} validation_accuracy"] = float(np.nanmean(arrays["validation_accuracy"][i, -1, m]))
            summary[f"{key} diverged"] = int((arrays["diverged_at"][i, m] >= 0).sum())
    return arrays, summary


@dataclass(frozen=True)
class SweepConfig:
    """widths × settings × seeds on the spiral split; settings are (loss, A, T, η) tuples."""

    widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
    settings: tuple[Setting, ...] = (("dce", 1.0, 500, 1.0), ("dce", 10.0, 500, 1.0), ("dce", 70.0, 500, 1.0),
                       ("dce", 70.0, 2000, 1.0))
    seeds: int = 10
    steps: int = 16_000
    final_plain_ce: bool = True
    record_every: int = 400
    init: str = "ntk2021"
    dtype: str = "float32"
    data: SpiralSplitConfig = field(default_factory=SpiralSplitConfig)

    def __post_init__(self):
        normalize_fields(self)
        require_int_tuple("widths", self.widths, at_least=1)
        validate_settings(self.settings)
        require_int("seeds", self.seeds, at_least=1)
        require_int("steps", self.steps, at_least=1)
        require_int("record_every", self.record_every, at_least=1)
        require(self.steps % self.record_every == 0, "record_every", "a divisor of steps", self.record_every)
        require_choice("init", self.init, INITS)
        torch_dtype(self.dtype)

    def members(self):
        """(setting index, seed) of each member of one width's ensemble (setting-major)."""
        return [(k, s) for k in range(len(self.settings)) for s in range(self.seeds)]

    def schedule(self, setting) -> GammaSchedule | None:
        _, A, T, _ = setting
        return None if A == 1 else GammaSchedule(3, float(A), int(T), self.steps, self.final_plain_ce)


def run_width(unit, *, device, progress=False, checkpoint=None) -> dict:
    """One unit of a sweep: (config, width, steps), every setting × seed of that width as batched ensembles (one per
    loss kind present: the loss is shared by an ensemble's members), on one CPU thread."""
    config, width, steps = unit
    kinds = [k for k in LOSSES if any(s[0] == k for s in config.settings)]
    with cpu_threads(1, device):
        train, val = config.data.make(torch_dtype(config.dtype), device)
        members = config.members()
        parts = []
        for kind in kinds:
            idx = [i for i, (k, _) in enumerate(members) if config.settings[k][0] == kind]
            model = EnsembleMLP.init(2, width, 3, [members[i][1] for i in idx], init=config.init,
                                     dtype=config.dtype, device=device)
            schedules = [config.schedule(config.settings[members[i][0]]) for i in idx]
            log = train_ensemble(model, train, loss=kind, schedules=schedules,
                                 lr=[config.settings[members[i][0]][3] for i in idx], steps=steps,
                                 record_every=config.record_every, eval_sets={"validation": val},
                                 checkpoint=checkpoint.sub(kind) if checkpoint is not None else None,
                                 progress=progress, description=f"width {width} {kind}", early_steps=EARLY_STEPS)
            parts.append((idx, log_arrays(log)))
        return merge_members(parts, len(members), CURVES + ("diverged_at", "early_objective"))


def width_units(config, until, run_width, width_prefix: str) -> Units:
    """One unit per width (each width is one batched ensemble; its members are not split further, so the stored
    bits do not depend on how the sweep is run), for the spiral sweeps and the image sweep alike."""
    steps = config.steps if until is None else min(until, config.steps)
    return Units(tuple((config, w, steps) for w in config.widths), run_width,
                 partial(sweep_arrays, config, width_prefix=width_prefix), tuple(f"width {w}" for w in config.widths),
                 costs=config.widths)


def split_sweep(config: SweepConfig, until=None) -> Units:
    return width_units(config, until, run_width, "w")


def run_sweep(config: SweepConfig, *, device, progress=True, checkpoint=None, until=None):
    return run_units(split_sweep(config, until), device=device, progress=progress, checkpoint=checkpoint,
                     description="widths")


def drift_check_sweep(config: SweepConfig, result, *, device):
    small = replace(config, widths=config.widths[:1] + config.widths[-1:]) if len(config.widths) > 2 else config
    arrays, _ = run_sweep(small, device=device, progress=False, until=EARLY_STEPS)
    keep = [0, len(config.widths) - 1] if len(config.widths) > 2 else list(range(len(config.widths)))
    return compare_early(result.arrays, arrays, CURVES, config.dtype, groups=keep)


SWEEP_AXES = {"train_*": ("width", "record", "member"), "validation_*": ("width", "record", "member"),
              "early_objective": ("width", "early_step", "member"), "diverged_at": ("width", "member"),
              "steps": ("record",), "widths": ("width",), "member_*": ("member",), "setting_*": ("setting",)}


def register_sweep(name: str, version: int, title: str, chapter: str, full: SweepConfig, smoke: SweepConfig,
                   description: str) -> None:
    register(Experiment(name=name, version=version, title=title, chapter=chapter, config_type=SweepConfig,
                        presets={"full": full, "smoke": smoke}, run=run_sweep, drift_check=drift_check_sweep,
                        description=description, split=split_sweep, axes=SWEEP_AXES))


SMOKE_DATA = SpiralSplitConfig(points_per_class=40)

register_sweep(
    "capacity", 2, "ICML claims 1–2: accuracy vs width, plain CE vs the dynamical loss", "capacity",
    full=SweepConfig(),
    smoke=SweepConfig(widths=(4, 32), settings=(("dce", 1.0, 20, 1.0), ("dce", 70.0, 20, 1.0)), seeds=2, steps=200,
                      record_every=20, data=SMOKE_DATA),
    description="Spiral split, 2-w-3 ReLU nets (2021 init, float32), widths 4…512, plain CE and three (A, T) "
                "settings of the dynamical loss (last period plain CE), 10 seeds, full-batch GD η = 1, 16k steps.")


def amp_period_settings(amplitudes, periods, lr=1.0, loss="dce") -> tuple:
    """Plain CE once (A = 1: the period does not matter), then every (A > 1, T) of the grid."""
    return ((loss, 1.0, int(periods[0]), float(lr)),) + tuple(
        (loss, float(A), int(T), float(lr)) for A in amplitudes if A > 1 for T in periods)


register_sweep(
    "amp_period", 2, "Amplitude × period map at an under- and an overparameterized width", "amp_period",
    full=SweepConfig(widths=(64, 256), settings=amp_period_settings((3.0, 10.0, 30.0, 70.0), (100, 400, 1600, 4000)),
                     seeds=4),
    smoke=SweepConfig(widths=(4, 32), settings=amp_period_settings((10.0,), (10, 40)), seeds=2, steps=200,
                      record_every=20, data=SMOKE_DATA),
    description="Spiral split, widths 64 (CE fails) and 256 (CE fits), A ∈ {1, 3, 10, 30, 70} × T ∈ {100, 400, "
                "1600, 4000}, 4 seeds, full-batch GD η = 1 for 16k steps, last period plain CE.")


def mse_family_settings(amplitude=10.0, period=500, lrs=(0.1, 0.2)) -> tuple:
    """MSE, DMSE1 and DMSE2 (the book's reading of the follow-up's losses), each at every learning rate."""
    return tuple(s for lr in lrs for s in (("dmse1", 1.0, int(period), float(lr)),
                                           ("dmse1", float(amplitude), int(period), float(lr)),
                                           ("dmse2", float(amplitude), int(period), float(lr))))


register_sweep(
    "followup_mse", 2, "Follow-up: MSE, DMSE1 and DMSE2 across sizes (CE and DCE from `capacity`)", "followup_mse",
    full=SweepConfig(widths=(16, 64, 256), settings=mse_family_settings()),
    smoke=SweepConfig(widths=(4, 32), settings=mse_family_settings(10.0, 20, (0.2,)), seeds=2, steps=200,
                      record_every=20, data=SMOKE_DATA),
    description="Spiral split, widths 16/64/256, MSE and the two dynamical MSE losses (A = 10, T = 500, last period "
                "plain), η ∈ {0.1, 0.2}, 10 seeds, full-batch GD for 16k steps; same data, seeds and steps as "
                "`capacity`, whose CE and DCE runs the chapter compares with.")
