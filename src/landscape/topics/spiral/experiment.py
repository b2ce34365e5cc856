"""ICML 2021 Fig. 4: the spiral, a 2-100-3 ReLU net, full-batch GD at η = 1 on the dynamical loss (A = 70,
T = 5000, final period plain CE), with the Hessian λ_max of F and the NTK λ_max logged along the way; the plain-CE
baseline; and the initialization table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from ...curvature import hessian_eigenvalues
from ...data import spiral
from ...losses import GammaSchedule, weighted_cross_entropy
from ...models import INITS, MLP, torch_dtype
from ...ntk import ntk_max_eigenvalue
from ...training import Probe, train_full_batch
from ...runtime import cpu_threads
from ...validation import normalize_fields, require, require_choice, require_finite, require_int
from ...registry import EARLY_STEPS, Comparison, Experiment, Units, register
from ...executor import run_units

DRIFT_CHECK_STEPS = 300


@dataclass(frozen=True)
class SpiralConfig:
    """One full-batch GD run on the spiral. amplitude = 1 is plain cross-entropy."""

    amplitude: float = 70.0
    period: int = 5000
    final_plain_ce: bool = True
    init: str = "ntk2021"
    width: int = 100
    lr: float = 1.0
    steps: int = 70_000
    seed: int = 0
    dtype: str = "float64"
    hessian_every: int = 25  # 0: no Hessian probe
    lanczos_steps: int = 20
    ntk_every: int = 1  # 0: no NTK probe
    ntk_points: int = 50

    def __post_init__(self):
        normalize_fields(self)
        require_finite("amplitude", self.amplitude, at_least=1.0)
        require_int("period", self.period, at_least=1)
        require_int("steps", self.steps, at_least=1)
        require_choice("init", self.init, INITS)
        require_int("width", self.width, at_least=1)
        require_finite("lr", self.lr, positive=True)
        require_int("seed", self.seed)
        torch_dtype(self.dtype)
        require_int("hessian_every", self.hessian_every)
        require_int("lanczos_steps", self.lanczos_steps, at_least=1)
        require_int("ntk_every", self.ntk_every)
        require_int("ntk_points", self.ntk_points, at_least=1)
        require(self.ntk_points <= 300, "ntk_points", "<= 300 (the spiral has 300 points)", self.ntk_points)

    def schedule(self) -> GammaSchedule:
        return GammaSchedule(3, float(self.amplitude), self.period, self.steps, self.final_plain_ce)


def train_spiral(config: SpiralConfig, *, device, progress=False, checkpoint=None, until: int | None = None):
    """Train one spiral net; returns the TrainingLog (t = 0 … until or steps)."""
    dtype = torch_dtype(config.dtype)
    data = spiral(dtype=dtype).to(device)
    model = MLP(2, config.width, 3, init=config.init, seed=config.seed, dtype=config.dtype, device=device)
    steps = config.steps if until is None else min(until, config.steps)
    schedule = config.schedule()
    gamma = schedule.gammas(np.arange(steps + 1))
    probes = []
    if config.hessian_every:
        def hessian_max(m, t):
            criterion = lambda z, y, g=torch.as_tensor(gamma[t], dtype=dtype, device=device): weighted_cross_entropy(z, y, g)
            return hessian_eigenvalues(m, criterion, (data.x, data.y), method="lanczos",
                                       lanczos_steps=config.lanczos_steps).values[0]
        probes.append(Probe("hessian_max", config.hessian_every, hessian_max))
    if config.ntk_every:
        x_ntk = data.x[: config.ntk_points]
        probes.append(Probe("ntk_max", config.ntk_every, lambda m, t: ntk_max_eigenvalue(m, x_ntk)))
    return train_full_batch(model, data, gamma, config.lr, steps, probes, checkpoint=checkpoint, progress=progress,
                            description=f"spiral A={config.amplitude:g} {config.init}")


def _arrays(log) -> dict:
    arrays = {"objective": log.objective, "cross_entropy": log.cross_entropy, "accuracy": log.accuracy}
    for name, (steps, values) in log.probes.items():
        arrays[f"{name}_steps"], arrays[name] = steps, values
    return arrays


def run_spiral(config: SpiralConfig, *, device, progress=True, checkpoint=None):
    with cpu_threads(1, device):
        log = train_spiral(config, device=device, progress=progress, checkpoint=checkpoint)
    summary = {"final_accuracy": float(log.accuracy[-1]), "final_cross_entropy": float(log.cross_entropy[-1]),
               "diverged_at": log.diverged_at, "steps_run": int(len(log.objective) - 1)}
    arrays = _arrays(log)
    arrays["gamma"] = config.schedule().gammas(np.arange(len(log.objective)))  # the Γ the run trained with (figures)
    return arrays, summary


# The drift check of these float64 runs at η = 1 (and of the cycle's, the same run): another CPU kernel (ATen's
# scalar one, MKL at SSE4.2) draws the float32 initialization (torch.randn) one bit apart, and the runs part — by 4e-3
# after 300 steps. So the check compares step 0 (data, initialization, loss, the probes at t = 0) at the float64
# tolerance, and the steps up to EARLY_STEPS (`registry.EARLY_STEPS`), before the runs part, at EARLY_RTOL: about 10×
# the largest difference measured between this machine's kernels and the scalar ones on the stored runs (objective
# 1e-5, cross-entropy 3.3e-5, λ_max of the Hessian 8.9e-5, of the NTK 8e-4; one training point's prediction may flip).
EARLY_RTOL = {"objective": 3e-4, "cross_entropy": 3e-4, "prefix_cross_entropy": 3e-4, "hessian_max": 1e-3,
              "ntk_max": 5e-3}
ONE_POINT = 1.0 / 300  # the accuracy of one of the spiral's 300 points


def early_comparisons(name: str, stored, recomputed, dtype: str, steps=None) -> list[Comparison]:
    """`stored` and `recomputed` over the same steps (the last axis; `steps`, else 0, 1, 2, …): step 0 at the drift
    tolerance, the later steps (≤ EARLY_STEPS) at EARLY_RTOL — in float32 at least 1e-3 both."""
    stored, recomputed = np.asarray(stored), np.asarray(recomputed)
    steps = np.arange(stored.shape[-1]) if steps is None else np.asarray(steps)
    first, later = steps == 0, steps > 0
    floor = 1e-6 if dtype == "float64" else 1e-3
    out = [Comparison(f"{name} at step 0", stored[..., first], recomputed[..., first], rtol=floor)]
    if later.any():
        if name == "accuracy":
            rtol, atol = 0.0, ONE_POINT * 1.01
        else:
            rtol, atol = max(EARLY_RTOL[name], floor), 1e-9
        out.append(Comparison(f"{name} at steps 1-{int(steps[later].max())}", stored[..., later],
                              recomputed[..., later], rtol=rtol, atol=atol))
    return out


def drift_check_spiral(config: SpiralConfig, result, *, device):
    n = min(EARLY_STEPS, config.steps)
    arrays = _arrays(train_spiral(config, device=device, until=n))
    out = []
    for name, recomputed in arrays.items():
        if name.endswith("_steps"):
            continue
        if name in ("hessian_max", "ntk_max"):  # the probes' steps up to n that the stored run has too
            steps, ours = result[name + "_steps"], arrays[name + "_steps"]
            keep = (steps <= n) & np.isin(steps, ours)
            out.append(Comparison(name + "_steps", steps[keep], ours[np.isin(ours, steps[keep])], rtol=0, atol=0))
            out += early_comparisons(name, result[name][keep], recomputed[np.isin(ours, steps[keep])], config.dtype,
                                     steps[keep])
        else:
            out += early_comparisons(name, result[name][: n + 1], recomputed, config.dtype)
    return out


FIG4 = SpiralConfig()
SMOKE = SpiralConfig(period=50, steps=400, hessian_every=25, ntk_every=5)
SPIRAL_AXES = {"hessian_max_steps": ("hessian_record",), "hessian_max": ("hessian_record",),
               "ntk_max_steps": ("ntk_record",), "ntk_max": ("ntk_record",), "gamma": ("step", "class"),
               "*": ("step",)}
INIT_TABLE_AXES = {"curve_steps": ("record",), "accuracy_curves": ("run", "record"),
                   "prefix_cross_entropy": ("run", "step"), "*": ("run",)}

register(Experiment(
    name="spiral_dynamical", version=2, title="Spiral, dynamical loss A = 70, T = 5000 (ICML Fig. 4)",
    chapter="spiral", config_type=SpiralConfig, presets={"full": FIG4, "smoke": SMOKE},
    run=run_spiral, drift_check=drift_check_spiral, axes=SPIRAL_AXES,
    description="2-100-3 ReLU net, 2021 init, float64, full-batch GD η = 1, 70k steps, Hessian λ_max of F every "
                "25 steps, NTK λ_max on the first 50 points every step."))

register(Experiment(
    name="spiral_ce", version=2, title="Spiral, plain cross-entropy baseline (A = 1), same protocol",
    chapter="spiral", config_type=SpiralConfig,
    presets={"full": replace(FIG4, amplitude=1.0), "smoke": replace(SMOKE, amplitude=1.0)},
    run=run_spiral, drift_check=drift_check_spiral, axes=SPIRAL_AXES,
    description="As spiral_dynamical with A = 1 (Γ ≡ 1)."))


@dataclass(frozen=True)
class InitTableConfig:
    """Final training accuracy for each initialization × loss × seed, same protocol as Fig. 4 without probes."""

    inits: tuple[str, ...] = INITS
    amplitudes: tuple[float, ...] = (1.0, 70.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    run: SpiralConfig = replace(FIG4, hessian_every=0, ntk_every=0)
    curve_every: int = 250

    def __post_init__(self):
        normalize_fields(self)
        for init in self.inits:
            require_choice("inits", init, INITS)
        for a in self.amplitudes:
            require_finite("amplitudes", a, at_least=1.0)
        require(len(self.seeds) > 0, "seeds", "a non-empty tuple of integers", self.seeds)
        require_int("curve_every", self.curve_every, at_least=1)

    def units(self):
        return [replace(self.run, init=i, amplitude=float(a), seed=s)
                for i in self.inits for a in self.amplitudes for s in self.seeds]


def run_table_entry(unit, *, device, progress=False, checkpoint=None) -> dict:
    """One unit of the table: (run config, until), one spiral net on one CPU thread."""
    run, until = unit
    with cpu_threads(1, device):
        log = train_spiral(run, device=device, until=until)
    return {"accuracy": log.accuracy, "cross_entropy": log.cross_entropy,
            "diverged_at": np.array(-1 if log.diverged_at is None else log.diverged_at)}


def assemble_init_table(config: InitTableConfig, until, done):
    units = config.units()
    n = min(DRIFT_CHECK_STEPS, config.run.steps) + 1
    arrays = {
        "init": np.array([u.init for u in units]),
        "amplitude": np.array([u.amplitude for u in units]),
        "seed": np.array([u.seed for u in units]),
        "final_accuracy": np.array([float(d["accuracy"][-1]) for d in done]),
        "final_cross_entropy": np.array([float(d["cross_entropy"][-1]) for d in done]),
        "diverged_at": np.array([int(d["diverged_at"]) for d in done]),
        "curve_steps": np.arange(0, config.run.steps + 1, config.curve_every),
        "accuracy_curves": np.stack([np.asarray(d["accuracy"])[:: config.curve_every] for d in done])
        if until is None else np.zeros((len(done), 0)),
        "prefix_cross_entropy": np.stack([np.asarray(d["cross_entropy"])[:n] for d in done]),
    }
    return arrays, {"units": len(units)}


def split_init_table(config: InitTableConfig, until=None) -> Units:
    """One unit per run of the table (init × amplitude × seed)."""
    units = config.units()
    return Units(tuple((u, until) for u in units), run_table_entry, partial(assemble_init_table, config, until),
                 tuple(f"{u.init} A={u.amplitude:g} seed {u.seed}" for u in units))


def run_init_table(config: InitTableConfig, *, device, progress=True, checkpoint=None, until=None):
    return run_units(split_init_table(config, until), device=device, progress=progress, checkpoint=checkpoint)


def drift_check_init_table(config: InitTableConfig, result, *, device):
    n = min(EARLY_STEPS, config.run.steps)
    arrays, _ = run_init_table(config, device=device, progress=False, until=n)
    return early_comparisons("prefix_cross_entropy", result["prefix_cross_entropy"][:, : n + 1],
                             arrays["prefix_cross_entropy"][:, : n + 1], config.run.dtype)


register(Experiment(
    name="spiral_init_table", version=2, title="Spiral: initialization × loss × seed (2021 init, Glorot, no bias)",
    chapter="spiral", config_type=InitTableConfig,
    presets={"full": InitTableConfig(),
             "smoke": InitTableConfig(seeds=(0,), run=replace(SMOKE, hessian_every=0, ntk_every=0), curve_every=10)},
    run=run_init_table, drift_check=drift_check_init_table, split=split_init_table, axes=INIT_TABLE_AXES,
    description="3 inits × {CE, A = 70} × 3 seeds, 70k steps each, final training accuracy."))
