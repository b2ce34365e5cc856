"""Late learning-rate decay on the paper's nonlinear toy model f_w(x) = ‖w‖^γ wᵀx (Ren, Ma & Ying, AISTATS 2024).

- `lrd_toy_picture`: d = 2, n = 1 — train and test loss on a grid, the curved valley of minima M, and label-noise SGD
  trajectories at a large and a small learning rate (the book's own picture; the paper's landscape figure is of a
  VGG net).
- `lrd_toy_decay`: d = 50, n = 20 — γ ∈ {0, 1, 2} × noise ∈ {label, plain, isotropic} × decay step T₁ × seeds, with
  the protocol of the paper notes' independent check: η = 0.01 for T₁ steps, η/10 for 20,000 steps, 2,000 full-batch
  GD steps, ‖w₀‖ = 1.5, batch size 1, label noise ±0.3. The model and protocol are the book's reading of the paper
  (see `landscape.topics.lrd_toy.model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import model as toy
from ...models import torch_dtype
from ...runtime import cpu_threads
from ...validation import normalize_fields, require, require_choice, require_finite, require_int
from ...registry import Comparison, Experiment, register

DRIFT_CHECK_STEPS = 100


def _finite_comparisons(name: str, stored: np.ndarray, recomputed: np.ndarray, rtol: float, atol: float):
    """Compare where the run is finite, and compare which entries are finite (diverged runs are NaN)."""
    stored, recomputed = np.asarray(stored, dtype=np.float64), np.asarray(recomputed, dtype=np.float64)
    if stored.shape != recomputed.shape:
        return [Comparison(name, stored, recomputed, rtol, atol)]
    ok = np.isfinite(stored)
    return [Comparison(f"{name} (finite entries)", ok.astype(np.float64), np.isfinite(recomputed).astype(np.float64),
                       0.0, 0.0),
            Comparison(name, stored[ok], recomputed[ok], rtol, atol)]


# ----------------------------------------------------------------------------------------------------------------
# lrd_toy_decay
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DecayConfig:
    """The decay-time sweep: every γ × noise model × decay step T₁ × seed (each seed its own data, w₀ and noise;
    runs of one seed share their minibatches and noise draws)."""

    d: int = 50
    n: int = 20
    exponents: tuple[float, ...] = (0.0, 1.0, 2.0)
    noises: tuple[str, ...] = toy.NOISES
    decay_steps: tuple[int, ...] = (0, 2_000, 5_000, 10_000, 20_000, 50_000)  # T₁
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    lr: float = 0.01  # η of the large-LR phase
    decay_factor: float = 0.1
    small_lr_steps: int = 20_000  # T₂
    polish_steps: int = 2_000  # T₃, full-batch GD at η
    sigma: float = 0.3  # label noise ±σ; the isotropic noise is matched to it
    batch_size: int = 1
    init_norm: float = 1.5
    log_every: int = 500
    dtype: str = "float64"

    def __post_init__(self):
        normalize_fields(self)
        require_int("d", self.d, at_least=2)
        require_int("n", self.n, at_least=1)
        require(self.n < self.d, "n", f"< d = {self.d} (the model must be overparameterized)", self.n)
        require(len(self.exponents) > 0, "exponents", "a non-empty tuple of numbers >= 0", self.exponents)
        for g in self.exponents:
            require_finite("exponents", g, at_least=0.0)
        require(len(self.noises) > 0, "noises", "a non-empty tuple of " + ", ".join(toy.NOISES), self.noises)
        for z in self.noises:
            require_choice("noises", z, toy.NOISES)
        require(len(self.decay_steps) > 0, "decay_steps", "a non-empty tuple of integers >= 0", self.decay_steps)
        for t in self.decay_steps:
            require_int("decay_steps", t)
        require(list(self.decay_steps) == sorted(set(self.decay_steps)), "decay_steps", "increasing",
                self.decay_steps)
        require(len(self.seeds) > 0, "seeds", "a non-empty tuple of integers >= 0", self.seeds)
        for s in self.seeds:
            require_int("seeds", s)
        require(len(set(self.seeds)) == len(self.seeds), "seeds", "distinct", self.seeds)
        require_finite("lr", self.lr, positive=True)
        require_finite("sigma", self.sigma, at_least=0.0)
        require_finite("init_norm", self.init_norm, positive=True)
        require_int("log_every", self.log_every, at_least=1)
        require(self.batch_size <= self.n, "batch_size", f"an integer between 1 and n = {self.n}", self.batch_size)
        self.schedule()  # validates decay_factor, small_lr_steps, polish_steps, batch_size
        torch_dtype(self.dtype)

    def schedule(self) -> toy.Schedule:
        return toy.Schedule(self.decay_factor, self.small_lr_steps, self.polish_steps, None, self.batch_size)

    def variants(self) -> toy.Variants:
        return toy.Variants.grid(self.exponents, self.noises, self.decay_steps, sigma=self.sigma, lr=self.lr)

    @property
    def grid_shape(self) -> tuple:
        return (len(self.seeds), len(self.exponents), len(self.noises), len(self.decay_steps))


def _decay_setup(config: DecayConfig, device):
    dtype = torch_dtype(config.dtype)
    problem = toy.make_problem(config.seeds, config.n, config.d, dtype=dtype, device=device)
    w0 = toy.initial_points(config.seeds, config.d, config.init_norm, dtype=dtype, device=device)
    return problem, w0


def _decay_log(config: DecayConfig, *, device, progress=False, checkpoint=None, until=None):
    problem, w0 = _decay_setup(config, device)
    with cpu_threads(1, device):
        return toy.sgd(problem, w0, config.variants(), config.schedule(),
                       toy.Recording(config.log_every, DRIFT_CHECK_STEPS), until=until, checkpoint=checkpoint,
                       progress=progress, description="lrd_toy_decay")


def run_decay(config: DecayConfig, *, device, progress=True, checkpoint=None):
    log = _decay_log(config, device=device, progress=progress, checkpoint=checkpoint)
    shape = config.grid_shape
    problem, w0 = _decay_setup(config, device)
    exponents = torch.tensor(config.exponents, dtype=problem.X.dtype, device=problem.X.device)
    w_mn = problem.w_mn(exponents)  # (S, G, d)
    r_mn = toy.min_norm_radius(problem.X, problem.y, exponents)
    arrays = {
        "seeds": np.asarray(config.seeds), "exponents": np.asarray(config.exponents, dtype=np.float64),
        "noises": np.asarray(config.noises), "decay_steps": np.asarray(config.decay_steps),
        "log_steps": log.steps,
        "diverged_at": log.diverged_at.reshape(shape),
        "prefix_test_loss": log.prefix_test_loss.reshape(*shape, -1),
        "w_before_polish": log.w_before_polish.reshape(*shape, -1),
        "w_final": log.w_final.reshape(*shape, -1),
        # per seed × γ: the minimum-norm interpolator and the flattest radius of M
        "test_loss_mn": toy.test_loss(w_mn, problem.alpha_star, exponents).cpu().numpy(),
        "norm_mn": r_mn.cpu().numpy(),
        "trace_mn": toy.manifold_trace(r_mn, problem.X, problem.y, exponents).cpu().numpy(),
        "flattest_norm": toy.flattest_radius(problem.X, problem.y, exponents).cpu().numpy(),
        "test_loss_w0": toy.test_loss(w0.unsqueeze(1).expand(-1, len(config.exponents), -1), problem.alpha_star,
                                      exponents).cpu().numpy(),
        "alpha_star_norm2": problem.alpha_star.square().sum(-1).cpu().numpy(),
    }
    for k, v in log.curves.items():
        arrays[f"{k}_curve"] = v.reshape(*shape, -1)
    for k, v in log.sgd_end.items():
        arrays[f"sgd_end_{k}"] = v.reshape(shape)
    for k, v in log.final.items():
        arrays[f"final_{k}"] = v.reshape(shape)
    mean = np.nanmean(arrays["final_test_loss"], axis=0)  # (G, N, K)
    summary = {
        "mean_final_test_loss": {f"exponent={g:g}": {z: [round(float(v), 4) for v in mean[i, j]]
                                                  for j, z in enumerate(config.noises)}
                                 for i, g in enumerate(config.exponents)},
        "decay_steps": list(config.decay_steps),
        "mean_test_loss_mn": round(float(arrays["test_loss_mn"].mean()), 4),
        "expected_test_loss_mn": toy.expected_min_norm_test_loss(config.n, config.d),
        "min_norm_is_flattest": bool(np.all(arrays["flattest_norm"] <= arrays["norm_mn"] * (1 + 1e-12))),
        "diverged_runs": int((arrays["diverged_at"] >= 0).sum()),
        "runs": int(np.prod(shape)),
    }
    return arrays, summary


def drift_check_decay(config: DecayConfig, result, *, device):
    """Recompute the first DRIFT_CHECK_STEPS SGD steps of every run, and the GD polish from the stored pre-polish points."""
    log = _decay_log(config, device=device, until=DRIFT_CHECK_STEPS)
    shape = config.grid_shape
    out = _finite_comparisons("prefix_test_loss", result["prefix_test_loss"], log.prefix_test_loss.reshape(*shape, -1),
                              1e-9, 1e-12)
    problem, _ = _decay_setup(config, device)
    variants = config.variants()
    exponent = torch.tensor(variants.exponent, dtype=problem.X.dtype, device=problem.X.device)
    w = torch.as_tensor(result["w_before_polish"].reshape(shape[0], -1, config.d), dtype=problem.X.dtype,
                        device=problem.X.device)
    alive = torch.isfinite(w.sum(-1))
    w = torch.where(alive.unsqueeze(-1), w, torch.ones_like(w))
    lr = torch.tensor(variants.lr, dtype=w.dtype, device=w.device)
    with cpu_threads(1, device), np.errstate(all="ignore"):
        polished = toy.gd_polish(w, problem, exponent, lr, config.polish_steps, alive)
    polished = torch.where(alive.unsqueeze(-1), polished, torch.nan).cpu().numpy().reshape(*shape, -1)
    out += _finite_comparisons("w_final (GD polish recomputed)", result["w_final"], polished, 1e-8, 1e-12)
    return out


DECAY_FULL = DecayConfig()
DECAY_SMOKE = DecayConfig(exponents=(0.0, 1.0), decay_steps=(0, 1_000, 3_000), seeds=(0, 1), small_lr_steps=1_000,
                          polish_steps=1_000, log_every=100)

RUN = ("seed", "exponent", "noise", "decay_step")
DECAY_AXES = {"seeds": ("seed",), "exponents": ("exponent",), "noises": ("noise",), "decay_steps": ("decay_step",),
              "log_steps": ("log_step",), "prefix_test_loss": RUN + ("step",), "w_*": RUN + ("coordinate",),
              "*_curve": RUN + ("log_step",), "alpha_star_norm2": ("seed",),
              "test_loss_mn": ("seed", "exponent"), "norm_mn": ("seed", "exponent"), "trace_mn": ("seed", "exponent"),
              "flattest_norm": ("seed", "exponent"), "test_loss_w0": ("seed", "exponent"), "*": RUN}
PICTURE_AXES = {"*_curve": ("seed", "lr", "log_step"), "seeds": ("seed",), "lrs": ("lr",), "grid_w1": ("w1",), "grid_w2": ("w2",),
                "*_grid": ("seed", "w2", "w1"), "valley": ("seed", "point", "coordinate"), "y": ("seed",),
                "x": ("seed", "coordinate"), "alpha_star": ("seed", "coordinate"), "w0": ("seed", "coordinate"),
                "w_mn": ("seed", "coordinate"), "w_star": ("seed", "coordinate"),
                "w_flat": ("seed", "flattest_point", "coordinate"), "norm_*": ("seed",), "trace_*": ("seed",),
                "log_steps": ("log_step",), "trajectory": ("seed", "lr", "log_step", "coordinate"),
                "diverged_at": ("seed", "lr"), "prefix_test_loss": ("seed", "lr", "step")}

register(Experiment(
    name="lrd_toy_decay", version=1, title="Toy model: final test loss against the decay step T₁ (γ × noise × seed)",
    chapter="lrd_toy", config_type=DecayConfig, presets={"full": DECAY_FULL, "smoke": DECAY_SMOKE},
    run=run_decay, drift_check=drift_check_decay, axes=DECAY_AXES,
    description="d = 50, n = 20, α* ~ N(0, I/d), γ ∈ {0, 1, 2}, label / plain / isotropic noise, batch 1; η = 0.01 "
                "for T₁ ∈ {0, 2k, 5k, 10k, 20k, 50k} steps, η/10 for 20k, 2k full-batch GD; 5 seeds; float64."))


# ----------------------------------------------------------------------------------------------------------------
# lrd_toy_picture
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PictureConfig:
    """d = 2, n = 1: one panel per seed. Both trajectories use label-noise SGD (with n = 1 a minibatch is the whole
    training set, so without label noise SGD would be plain GD) from the same w₀ for `steps` steps.

    The default seeds were picked for a legible figure: seed 0 has a tiny x (slow dynamics) and seed 3 a large one
    (η = 0.1 diverges). With n = 1 the flattest points of the valley are not w_mn (see `toy.flattest_radius`), so
    the large-LR drift goes to them, not to the minimum-norm point.
    """

    exponent: float = 1.0
    seeds: tuple[int, ...] = (1, 2, 5)
    sigma: float = 0.2
    lr_large: float = 0.1
    lr_small: float = 0.01
    steps: int = 50_000
    init_norm: float = 1.5
    log_every: int = 25
    extent: tuple[float, float, float, float] = (-2.0, 2.0, -2.0, 2.0)  # w₁ min, w₁ max, w₂ min, w₂ max
    grid_size: int = 161
    valley_points: int = 401
    valley_s_max: float = 6.0  # the valley is φ⁻¹(α_mn + s v), |s| ≤ s_max

    def __post_init__(self):
        normalize_fields(self)
        require_finite("exponent", self.exponent, at_least=0.0)
        require(len(self.seeds) > 0, "seeds", "a non-empty tuple of integers >= 0", self.seeds)
        for s in self.seeds:
            require_int("seeds", s)
        require_finite("sigma", self.sigma, at_least=0.0)
        require_finite("lr_large", self.lr_large, positive=True)
        require_finite("lr_small", self.lr_small, positive=True)
        require(self.lr_small < self.lr_large, "lr_small", f"< lr_large = {self.lr_large}", self.lr_small)
        require_int("steps", self.steps, at_least=1)
        require_finite("init_norm", self.init_norm, positive=True)
        require_int("log_every", self.log_every, at_least=1)
        require(len(self.extent) == 4 and all(isinstance(v, (int, float)) for v in self.extent)
                and self.extent[0] < self.extent[1] and self.extent[2] < self.extent[3], "extent",
                "(w1_min, w1_max, w2_min, w2_max) with min < max", self.extent)
        require_int("grid_size", self.grid_size, at_least=2)
        require_int("valley_points", self.valley_points, at_least=2)
        require_finite("valley_s_max", self.valley_s_max, positive=True)

    def variants(self) -> toy.Variants:
        g = float(self.exponent)
        return toy.Variants((g, g), ("label", "label"), (self.sigma,) * 2, (self.lr_large, self.lr_small),
                            (self.steps, self.steps))


def _picture_log(config: PictureConfig, *, device, until=None, progress=False):
    problem = toy.make_problem(config.seeds, 1, 2, device=device)
    w0 = toy.initial_points(config.seeds, 2, config.init_norm, device=device)
    with cpu_threads(1, device):
        log = toy.sgd(problem, w0, config.variants(), toy.Schedule(small_lr_steps=0, polish_steps=0),
                      toy.Recording(config.log_every, DRIFT_CHECK_STEPS, keep_points=True), until=until,
                      progress=progress, description="lrd_toy_picture")
    return problem, w0, log


def run_picture(config: PictureConfig, *, device, progress=True, checkpoint=None):
    problem, w0, log = _picture_log(config, device=device, progress=progress)
    g = float(config.exponent)
    grids = [toy.loss_grid(problem.select(i), g, config.extent, config.grid_size) for i in range(problem.S)]
    w_mn = problem.w_mn(g).cpu().numpy()
    w_star = toy.phi_inv(problem.alpha_star, g).cpu().numpy()
    r_mn = toy.min_norm_radius(problem.X, problem.y, g)
    r_flat = toy.flattest_radius(problem.X, problem.y, g)
    points = log.extra["points"]  # (P, 2, L, 2)
    end = points[:, :, -1]
    arrays = {
        "seeds": np.asarray(config.seeds), "lrs": np.asarray([config.lr_large, config.lr_small]),
        "grid_w1": grids[0]["w1"], "grid_w2": grids[0]["w2"],
        "train_loss_grid": np.stack([gr["train"] for gr in grids]),  # (P, size, size), rows = w2
        "test_loss_grid": np.stack([gr["test"] for gr in grids]),
        "valley": np.stack([toy.valley_curve(problem.select(i), g, config.valley_s_max, config.valley_points)
                            for i in range(problem.S)]),
        "x": problem.X[:, 0].cpu().numpy(), "y": problem.y[:, 0].cpu().numpy(),
        "alpha_star": problem.alpha_star.cpu().numpy(),
        "w0": w0.cpu().numpy(), "w_mn": w_mn, "w_star": w_star,
        "w_flat": np.stack([toy.flattest_points(problem.select(i), g) for i in range(problem.S)]),  # (P, 2, 2)
        "norm_mn": r_mn.cpu().numpy(), "norm_flat": r_flat.cpu().numpy(),
        "trace_mn": toy.manifold_trace(r_mn, problem.X, problem.y, g).cpu().numpy(),
        "trace_flat": toy.manifold_trace(r_flat, problem.X, problem.y, g).cpu().numpy(),
        "log_steps": log.steps,
        "trajectory": points,  # (P, 2 learning rates, L, 2)
        "diverged_at": log.diverged_at,
        "prefix_test_loss": log.prefix_test_loss,
    }
    for k, v in log.curves.items():
        arrays[f"{k}_curve"] = v  # (P, 2, L)
    dist_flat = np.min(np.linalg.norm(end[:, :, None, :] - arrays["w_flat"][:, None], axis=-1), axis=-1)
    summary = {
        "final_dist_to_w_mn": {f"lr={lr:g}": [round(float(v), 4) for v in log.final["dist_mn"][:, i]]
                               for i, lr in enumerate(arrays["lrs"])},
        "final_dist_to_flattest": {f"lr={lr:g}": [round(float(v), 4) for v in dist_flat[:, i]]
                                   for i, lr in enumerate(arrays["lrs"])},
        "final_test_loss": {f"lr={lr:g}": [round(float(v), 4) for v in log.final["test_loss"][:, i]]
                            for i, lr in enumerate(arrays["lrs"])},
        "min_norm_is_flattest": [bool(f <= m * (1 + 1e-12)) for f, m in zip(arrays["norm_flat"], arrays["norm_mn"])],
        "diverged_runs": int((log.diverged_at >= 0).sum()),
    }
    return arrays, summary


def drift_check_picture(config: PictureConfig, result, *, device):
    problem, _, log = _picture_log(config, device=device, until=DRIFT_CHECK_STEPS)
    g = float(config.exponent)
    out = _finite_comparisons("prefix_test_loss", result["prefix_test_loss"], log.prefix_test_loss, 1e-9, 1e-12)
    grid = toy.loss_grid(problem.select(0), g, config.extent, config.grid_size)
    out.append(Comparison("train_loss_grid[0]", result["train_loss_grid"][0], grid["train"], 1e-10, 1e-14))
    out.append(Comparison("test_loss_grid[0]", result["test_loss_grid"][0], grid["test"], 1e-10, 1e-14))
    return out


register(Experiment(
    name="lrd_toy_picture", version=1, title="Toy model in 2-D: the curved valley and large- vs small-LR trajectories",
    chapter="lrd_toy", config_type=PictureConfig,
    presets={"full": PictureConfig(), "smoke": PictureConfig(seeds=(1,), steps=2_000, log_every=10, grid_size=41,
                                                            valley_points=101)},
    run=run_picture, drift_check=drift_check_picture, axes=PICTURE_AXES,
    description="d = 2, n = 1, γ = 1, label-noise SGD ±0.2 at η = 0.1 and 0.01 for 50k steps from ‖w₀‖ = 1.5; "
                "train/test loss on a 161 × 161 grid; seeds 1, 2, 5."))
