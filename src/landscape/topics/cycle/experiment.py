"""The landscape over one cycle of the dynamical loss: the Fig. 4 run (spiral, 2-100-3, A = 70, T = 5000, η = 1,
float64) re-trained from the same seed up to the end of a chosen period, with snapshots of the parameters at
evenly spaced points of that period. At each snapshot, for the loss F(·, t) of that step: the exact Hessian
spectrum (603 parameters), its stochastic-Lanczos-quadrature estimate, Hutchinson's trace estimate, and the loss
along the top eigenvector and along a random direction.

The stored Fig. 4 experiments are not changed; this one retrains the same configuration (the chapter compares its loss
curve with the stored `spiral_dynamical` run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from ...curvature import HessianOperator, loss_along
from ...estimators import hutchinson_trace, slq
from ...data import spiral
from ...losses import weighted_cross_entropy
from ...models import MLP, torch_dtype
from ...runtime import cpu_threads
from ...training import train_full_batch
from ...validation import normalize_fields, require, require_finite, require_int
from ...registry import EARLY_STEPS, Comparison, Experiment, register
from ..spiral.experiment import FIG4, SpiralConfig, early_comparisons



@dataclass(frozen=True)
class CycleConfig:
    run: SpiralConfig = field(default_factory=lambda: replace(FIG4, hessian_every=0, ntk_every=0))
    period_index: int = 1  # 0-based: the second period (t = 5001 … 10001), the zoom of the paper's Fig. 4
    snapshots: int = 11  # evenly spaced over the period, both ends included
    slq_vectors: int = 20
    slq_steps: int = 60
    hutchinson_samples: int = 200
    profile_span: float = 1.0  # the loss along a unit direction for α ∈ [−span, span]
    profile_points: int = 41
    rise: float = 0.05  # a valley's width along a direction: the α-interval where F stays below F(θ) + rise

    def __post_init__(self):
        normalize_fields(self)
        require_int("period_index", self.period_index)
        require_int("snapshots", self.snapshots, at_least=2)
        require_int("slq_vectors", self.slq_vectors, at_least=1)
        require_int("slq_steps", self.slq_steps, at_least=2)
        require_int("hutchinson_samples", self.hutchinson_samples, at_least=2)
        require_finite("profile_span", self.profile_span, positive=True)
        require_int("profile_points", self.profile_points, at_least=3)
        require_finite("rise", self.rise, positive=True)
        schedule = self.run.schedule()
        require(self.end_step <= self.run.steps, "period_index", f"a period that ends by step {self.run.steps}",
                self.period_index)
        require(schedule.plain_ce_from is None or self.end_step <= schedule.plain_ce_from, "period_index",
                "an oscillating period (not the final plain-CE one)", self.period_index)

    @property
    def start_step(self) -> int:
        return self.period_index * (self.run.period + 1)

    @property
    def end_step(self) -> int:
        """The last step of the period (τ = T)."""
        return self.start_step + self.run.period

    def snapshot_steps(self) -> np.ndarray:
        return np.round(np.linspace(self.start_step, self.end_step, self.snapshots)).astype(np.int64)


def width_along(alphas: np.ndarray, profile: np.ndarray, rise: float) -> float:
    """Width of the valley along a direction: the length of the α-interval around 0 on which the loss stays below
    its value at 0 plus `rise` (linear interpolation between grid points; capped by the grid)."""
    center = int(np.argmin(np.abs(alphas)))
    level = profile[center] + rise
    ends = []
    for step in (-1, 1):
        i = center
        while 0 <= i + step < len(alphas) and profile[i + step] < level:
            i += step
        if 0 <= i + step < len(alphas):  # interpolate the crossing between i and i + step
            a0, a1, f0, f1 = alphas[i], alphas[i + step], profile[i], profile[i + step]
            ends.append(a0 + (level - f0) / (f1 - f0) * (a1 - a0))
        else:
            ends.append(alphas[i])
    return float(abs(ends[1] - ends[0]))


def run_cycle(config: CycleConfig, *, device, progress=True, checkpoint=None, until=None):
    run = config.run
    dtype = torch_dtype(run.dtype)
    data = spiral(dtype=dtype).to(device)
    model = MLP(2, run.width, 3, init=run.init, seed=run.seed, dtype=run.dtype, device=device)
    total = config.end_step if until is None else min(until, config.end_step)
    gamma = run.schedule().gammas(np.arange(total + 1))
    snaps = [int(s) for s in config.snapshot_steps() if s <= total]
    objective, accuracy = [], []
    rows = {k: [] for k in ("objective", "trace_exact", "trace_hutchinson", "trace_stderr", "hessian_max",
                            "width_top", "width_random")}
    eigenvalues, slq_nodes, slq_weights, profiles_top, profiles_random = [], [], [], [], []
    alphas = np.linspace(-config.profile_span, config.profile_span, config.profile_points)
    n_params = sum(p.numel() for p in model.parameters())
    random_dir = torch.randn(n_params, generator=torch.Generator().manual_seed(12345), dtype=torch.float64)
    random_dir = (random_dir / random_dir.norm()).to(device=device, dtype=dtype)
    t = 0
    bar = tqdm(total=len(snaps), desc="cycle snapshots", disable=not progress)
    with cpu_threads(1, device):
        for s in snaps:
            if s > t:
                log = train_full_batch(model, data, gamma[t:s + 1], run.lr, s - t)
                objective.extend(log.objective[:-1])
                accuracy.extend(log.accuracy[:-1])
                t = s
            g = torch.as_tensor(gamma[s], dtype=dtype, device=device)
            crit = lambda z, y, g=g: weighted_cross_entropy(z, y, g)
            if until is None:
                op = HessianOperator(model, crit, data.x, data.y)
                values, vectors = torch.linalg.eigh(op.dense())
                nodes, weights = slq(op, op.size, config.slq_vectors, config.slq_steps, dtype=dtype, device=device,
                                     seed=s)
                trace, stderr = hutchinson_trace(op, op.size, config.hutchinson_samples, dtype=dtype, device=device,
                                                 seed=s)
                top = loss_along(model, crit, data.x, data.y, vectors[:, -1], alphas).numpy()
                rnd = loss_along(model, crit, data.x, data.y, random_dir, alphas).numpy()
                eigenvalues.append(values.cpu().numpy())
                slq_nodes.append(nodes.numpy())
                slq_weights.append(weights.numpy())
                profiles_top.append(top)
                profiles_random.append(rnd)
                rows["trace_exact"].append(float(values.sum()))
                rows["trace_hutchinson"].append(trace)
                rows["trace_stderr"].append(stderr)
                rows["hessian_max"].append(float(values[-1]))
                rows["width_top"].append(width_along(alphas, top, config.rise))
                rows["width_random"].append(width_along(alphas, rnd, config.rise))
            with torch.no_grad():
                rows["objective"].append(float(crit(model(data.x), data.y)))
            bar.update(1)
        bar.close()
        if t < total:  # a short drift check ends before the first snapshot
            log = train_full_batch(model, data, gamma[t:total + 1], run.lr, total - t)
            objective.extend(log.objective[:-1])
            accuracy.extend(log.accuracy[:-1])
            t = total
        # the curve up to the last step, evaluated at that step too
        with torch.no_grad():
            z = model(data.x)
            objective.append(float(weighted_cross_entropy(z, data.y, torch.as_tensor(gamma[t], dtype=dtype,
                                                                                      device=device))))
            accuracy.append(float((z.argmax(1) == data.y).double().mean()))
    arrays = {"objective": np.array(objective), "accuracy": np.array(accuracy),
              "snapshot_steps": np.array(snaps, dtype=np.int64), "snapshot_gamma": gamma[snaps],
              "snapshot_objective": np.array(rows["objective"])}
    if until is None:
        arrays.update({k: np.array(v) for k, v in rows.items() if k != "objective"})
        arrays.update({"eigenvalues": np.stack(eigenvalues), "slq_nodes": np.stack(slq_nodes),
                       "slq_weights": np.stack(slq_weights), "alphas": alphas,
                       "profile_top": np.stack(profiles_top), "profile_random": np.stack(profiles_random)})
    summary = {"start_step": config.start_step, "end_step": config.end_step}
    if until is None:
        for key in ("hessian_max", "trace_exact", "width_top"):
            summary[f"{key}_start"], summary[f"{key}_end"] = float(arrays[key][0]), float(arrays[key][-1])
            summary[f"{key}_min" if key != "width_top" else f"{key}_max"] = \
                float(arrays[key].min() if key != "width_top" else arrays[key].max())
    return arrays, summary


def drift_check_cycle(config: CycleConfig, result, *, device):
    """The objective before the chaotic run parts between CPU kernels (`registry.EARLY_STEPS`; see
    `spiral.experiment.EARLY_RTOL`)."""
    n = min(EARLY_STEPS, config.end_step)
    arrays, _ = run_cycle(config, device=device, progress=False, until=n)
    return early_comparisons("objective", result["objective"][: n + 1], arrays["objective"], config.run.dtype)


FULL = CycleConfig()
SMOKE = CycleConfig(run=replace(FIG4, period=50, steps=400, hessian_every=0, ntk_every=0), period_index=1,
                    snapshots=3, slq_vectors=2, slq_steps=10, hutchinson_samples=5, profile_points=7)

CYCLE_AXES = {"objective": ("step",), "accuracy": ("step",), "snapshot_gamma": ("snapshot", "class"),
              "eigenvalues": ("snapshot", "eigenvalue"), "slq_*": ("snapshot", "vector", "node"), "alphas": ("alpha",),
              "profile_*": ("snapshot", "alpha"), "*": ("snapshot",)}

register(Experiment(
    name="cycle", version=1, title="The landscape over one period of the dynamical loss (Fig. 4 run, period 2)",
    chapter="cycle", config_type=CycleConfig, presets={"full": FULL, "smoke": SMOKE}, run=run_cycle,
    drift_check=drift_check_cycle, axes=CYCLE_AXES,
    description="The Fig. 4 configuration retrained to the end of its second period (10,001 steps, float64); at 11 "
                "points of that period: exact Hessian spectrum of F(·, t), SLQ density (20 vectors × 60 steps), "
                "Hutchinson trace (200 samples), loss along the top eigenvector and a random direction."))
