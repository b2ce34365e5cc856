"""Image data: a Myrtle-style CNN whose width is its channel count, plain CE vs the dynamical loss from under- to
overparameterized widths — the ICML paper's CIFAR-10 experiment, run on MNIST-1D (1-D convolutions) on the CPU,
with a CIFAR-10 preset (2-D convolutions) for readers who have the data and a GPU.

Every width is one batched ensemble (grouped convolutions) of all seeds × settings. Results have the same layout as
the spiral sweeps (`topics.sweeps.experiment`), so the same analysis and figures read them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...data import Dataset, balanced_subset, cifar10, mnist1d
from ...ensemble import EnsembleMyrtle, train_ensemble
from ...losses import LOSSES, GammaSchedule
from ...models import torch_dtype
from ...runtime import cpu_threads
from ...settings import Setting
from ...validation import normalize_fields, require, require_choice, require_int, require_int_tuple
from ...registry import Experiment, Units, register
from ...ensemble_runs import compare_prefix, log_arrays, merge_members, drift_tolerance, run_units
from ..sweeps.experiment import CURVES, SWEEP_AXES, validate_settings, width_units

DATASETS = ("mnist1d", "cifar10")


@dataclass(frozen=True)
class ImageConfig:
    """widths (channels) × settings (loss, A, T, η) × seeds, full-batch GD on a class-balanced training subset,
    validated on a class-balanced subset of the data set's test split."""

    dataset: str = "mnist1d"
    train_per_class: int = 50
    validation_per_class: int = 50
    widths: tuple[int, ...] = (2, 4, 8, 16)
    settings: tuple[Setting, ...] = (("dce", 1.0, 50, 0.3), ("dce", 10.0, 50, 0.3))
    seeds: int = 4
    steps: int = 1500
    final_plain_ce: bool = True
    record_every: int = 100
    dtype: str = "float32"
    samples_per_pass: int = 0  # samples per forward pass (0: the whole batch at once); gradients are accumulated
    data_seed: int = 42  # MNIST-1D generation seed (the package default)
    subset_seed: int = 0

    def __post_init__(self):
        normalize_fields(self)
        require_choice("dataset", self.dataset, DATASETS)
        require_int("train_per_class", self.train_per_class, at_least=1)
        require_int("validation_per_class", self.validation_per_class, at_least=1)
        require_int_tuple("widths", self.widths, at_least=1)
        validate_settings(self.settings)
        require_int("seeds", self.seeds, at_least=1)
        require_int("steps", self.steps, at_least=1)
        require_int("record_every", self.record_every, at_least=1)
        require(self.steps % self.record_every == 0, "record_every", "a divisor of steps", self.record_every)
        torch_dtype(self.dtype)
        require_int("samples_per_pass", self.samples_per_pass)
        require_int("data_seed", self.data_seed)
        require_int("subset_seed", self.subset_seed)

    @property
    def dims(self) -> int:
        return 1 if self.dataset == "mnist1d" else 2

    @property
    def in_channels(self) -> int:
        return 1 if self.dataset == "mnist1d" else 3

    def members(self):
        return [(k, s) for k in range(len(self.settings)) for s in range(self.seeds)]

    def schedule(self, setting) -> GammaSchedule | None:
        _, A, T, _ = setting
        return None if A == 1 else GammaSchedule(10, float(A), int(T), self.steps, self.final_plain_ce)

    def make_data(self, device) -> tuple[Dataset, Dataset]:
        dtype = torch_dtype(self.dtype)
        train, test = mnist1d(self.data_seed, dtype) if self.dataset == "mnist1d" else cifar10(dtype=dtype)
        train = balanced_subset(train, self.train_per_class, self.subset_seed)
        val = balanced_subset(test, self.validation_per_class, self.subset_seed)
        return train.to(device), val.to(device)


def run_width(unit, *, device, progress=False, checkpoint=None) -> dict:
    """One unit: (config, width, steps), every setting × seed of that width as batched ensembles (one per loss kind),
    on one CPU thread."""
    config, width, steps = unit
    with cpu_threads(1, device):
        train, val = config.make_data(device)
        members = config.members()
        kinds = [k for k in LOSSES if any(s[0] == k for s in config.settings)]
        parts = []
        for kind in kinds:
            idx = [i for i, (k, _) in enumerate(members) if config.settings[k][0] == kind]
            model = EnsembleMyrtle.init(width, [members[i][1] for i in idx], dims=config.dims,
                                        in_channels=config.in_channels, dtype=config.dtype, device=device,
                                        samples_per_pass=config.samples_per_pass or None)
            log = train_ensemble(model, train, loss=kind,
                                 schedules=[config.schedule(config.settings[members[i][0]]) for i in idx],
                                 lr=[config.settings[members[i][0]][3] for i in idx], steps=steps,
                                 record_every=config.record_every, eval_sets={"validation": val},
                                 checkpoint=checkpoint.sub(kind) if checkpoint is not None else None,
                                 progress=progress, description=f"{config.dataset} width {width} {kind}")
            parts.append((idx, log_arrays(log)))
        return merge_members(parts, len(members), CURVES + ("diverged_at",))


def split_image(config: ImageConfig, until=None) -> Units:
    """One unit per width (channel count)."""
    return width_units(config, until, run_width, "c")


def run_image(config: ImageConfig, *, device, progress=True, checkpoint=None, until=None):
    return run_units(split_image(config, until), device=device, progress=progress, checkpoint=checkpoint,
                     description="widths")


def drift_check_image(config: ImageConfig, result, *, device):
    n = min(config.record_every, config.steps)
    small = replace(config, widths=config.widths[:1]) if len(config.widths) > 1 else config
    arrays, _ = run_image(small, device=device, progress=False, until=n)
    stored = {k: result[k][:1] for k in CURVES}
    rtol, atol = drift_tolerance(config.dtype)
    return compare_prefix(stored, arrays, CURVES, rtol, atol)


MNIST1D = ImageConfig()
SMOKE = ImageConfig(train_per_class=5, validation_per_class=5, widths=(2, 4),
                    settings=(("dce", 1.0, 5, 0.3), ("dce", 10.0, 5, 0.3)), seeds=2, steps=40, record_every=10)
# For readers with CIFAR-10 on disk (LANDSCAPE_CIFAR10) and a GPU: Myrtle5 in 2-D on the full training set, full-batch
# GD with the gradient accumulated over passes. Not stored by the book (CIFAR-10 is not available here).
CIFAR10_PAPER = ImageConfig(dataset="cifar10", train_per_class=5000, validation_per_class=1000,
                            widths=(8, 16, 32, 64, 128), settings=(("dce", 1.0, 50, 0.3), ("dce", 10.0, 50, 0.3)),
                            seeds=3, steps=3000, record_every=100, samples_per_pass=5000)

register(Experiment(
    name="image", version=1, title="Myrtle-style CNN: CE vs the dynamical loss across widths (MNIST-1D; CIFAR-10 preset)",
    chapter="image", config_type=ImageConfig,
    presets={"full": MNIST1D, "smoke": SMOKE, "cifar10": CIFAR10_PAPER}, run=run_image, drift_check=drift_check_image,
    split=split_image, axes=SWEEP_AXES,
    description="full: MNIST-1D (500 training, 500 validation signals, class-balanced), Myrtle5-style 1-D CNN with "
                "2…16 channels (2021 init, float32), plain CE and the dynamical CE (A = 10, T = 50, last period "
                "plain), 4 seeds, full-batch GD η = 0.3 for 1,500 steps. cifar10: the 2-D Myrtle5 on CIFAR-10 from "
                "LANDSCAPE_CIFAR10, widths 8…128, 3 seeds, full-batch GD accumulated over passes — for a GPU; not "
                "stored by the book."))
