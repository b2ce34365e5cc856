"""The SGD engine of the toy model: per-run variants and schedule, three noise models, the GD polish, checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np
import torch
from tqdm import tqdm

from .core import _like, _norm, full_trace, gauss_newton_trace, test_loss, train_loss
from .problems import NOISE_STREAM, Problem
from ....runtime import Checkpoint
from ....validation import require, require_choice, require_finite, require_int

NOISES = ("label", "plain", "isotropic")
NOISE_BLOCK = 1024  # steps of noise drawn at once per seed; fixed, so any batching or resume draws the same noise
SAVE_EVERY = 1000  # steps between checkpoint opportunities (a checkpoint is written when it is due)


def noise_block(seed: int, block: int, n: int, d: int, batch_size: int):
    """The SGD noise of steps [block·C, (block + 1)·C) for one seed (C = NOISE_BLOCK): minibatch indices (C, B)
    drawn without replacement within a step, label-noise signs ±1 (C, B), Gaussian parameter noise (C, d).
    All noise models draw the same stream, so runs of one seed share their minibatches (common random numbers)."""
    rng = np.random.default_rng([seed, NOISE_STREAM, block])
    idx = np.argsort(rng.random((NOISE_BLOCK, n)), axis=1)[:, :batch_size]
    signs = rng.integers(0, 2, size=(NOISE_BLOCK, batch_size)) * 2.0 - 1.0
    gauss = rng.standard_normal((NOISE_BLOCK, d))
    return idx, signs, gauss


# ----------------------------------------------------------------------------------------------------------------
# SGD with a learning-rate schedule and three noise models
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variants:
    """M runs per problem, one per entry: exponent γ, noise model, label-noise σ, large learning rate η, decay
    step T₁ (the step at which η drops to decay_factor·η)."""

    exponent: tuple
    noise: tuple
    sigma: tuple
    lr: tuple
    decay_step: tuple

    def __post_init__(self):
        m = len(self.exponent)
        require(m > 0, "exponent", "a non-empty tuple", self.exponent)
        for name in ("noise", "sigma", "lr", "decay_step"):
            require(len(getattr(self, name)) == m, name, f"a tuple of the same length as exponent ({m})",
                    getattr(self, name))
        for g in self.exponent:
            require_finite("exponent", g, at_least=0.0)
        for z in self.noise:
            require_choice("noise", z, NOISES)
        for s in self.sigma:
            require_finite("sigma", s, at_least=0.0)
        for lr in self.lr:
            require_finite("lr", lr, positive=True)
        for t in self.decay_step:
            require_int("decay_step", t)

    def __len__(self) -> int:
        return len(self.exponent)

    @classmethod
    def grid(cls, exponents, noises, decay_steps, *, sigma: float, lr: float) -> "Variants":
        """The product γ × noise × T₁ in that order (reshape results to (…, G, N, K))."""
        rows = list(product(exponents, noises, decay_steps))
        return cls(tuple(float(g) for g, _, _ in rows), tuple(z for _, z, _ in rows), (float(sigma),) * len(rows),
                   (float(lr),) * len(rows), tuple(int(t) for _, _, t in rows))

    def select(self, index) -> "Variants":
        index = [index] if isinstance(index, int) else list(index)
        return Variants(*(tuple(getattr(self, f)[i] for i in index)
                          for f in ("exponent", "noise", "sigma", "lr", "decay_step")))


@dataclass(frozen=True)
class Schedule:
    """After T₁ large steps: `small_lr_steps` (T₂) steps at decay_factor·η, then `polish_steps` (T₃) noise-free
    full-batch GD steps at `polish_lr` (None: each run's η) so that the final point sits on M."""

    decay_factor: float = 0.1
    small_lr_steps: int = 20_000
    polish_steps: int = 2_000
    polish_lr: float | None = None
    batch_size: int = 1

    def __post_init__(self):
        require_finite("decay_factor", self.decay_factor, positive=True)
        require(self.decay_factor <= 1, "decay_factor", "<= 1", self.decay_factor)
        require_int("small_lr_steps", self.small_lr_steps)
        require_int("polish_steps", self.polish_steps)
        if self.polish_lr is not None:
            require_finite("polish_lr", self.polish_lr, positive=True)
        require_int("batch_size", self.batch_size, at_least=1)


@dataclass(frozen=True)
class Recording:
    """What `sgd` logs besides the end points: every `log_every`-th iterate of the SGD phases (and the last),
    L(w_t) for t = 0 … `prefix_steps` (the drift check's comparison) and, with `keep_points`, the logged iterates
    themselves (for pictures)."""

    log_every: int = 500
    prefix_steps: int = 100
    keep_points: bool = False

    def __post_init__(self):
        require_int("log_every", self.log_every, at_least=1)
        require_int("prefix_steps", self.prefix_steps)


@dataclass
class SGDLog:
    """What `sgd` records. Shapes: (S, M, …). Iterate t is w_t, before step t is taken.

    steps: logged iterates of the SGD phases (every log_every, and the last); logged curves are NaN after a run's own
    SGD end T₁ + T₂ (it waits, frozen, for the longest run) and after divergence. prefix_test_loss: L(w_t) for
    t = 0 … prefix_steps (the drift check's comparison). final_*: after the GD polish. diverged_at: the first
    non-finite iterate index of the run's own schedule, −1 if none (its final values are NaN).
    """

    steps: np.ndarray
    curves: dict[str, np.ndarray]  # name → (S, M, L): test_loss, train_loss, norm, dist_mn, trace
    prefix_test_loss: np.ndarray
    sgd_end: dict[str, np.ndarray]  # name → (S, M) at iterate T₁ + T₂
    final: dict[str, np.ndarray]  # name → (S, M) after the polish
    w_before_polish: np.ndarray  # (S, M, d)
    w_final: np.ndarray  # (S, M, d)
    diverged_at: np.ndarray  # (S, M) int
    extra: dict = field(default_factory=dict)


CURVES = ("test_loss", "train_loss", "norm", "dist_mn", "trace")


def measure(w: torch.Tensor, problem: Problem, exponent: torch.Tensor, w_mn: torch.Tensor) -> dict[str, torch.Tensor]:
    """The logged quantities at points w (S, M, d): L, L̂, ‖w‖, ‖w − w_mn‖, tr ∇²L̂."""
    return {"test_loss": test_loss(w, problem.alpha_star, exponent),
            "train_loss": train_loss(w, problem.X, problem.y, exponent),
            "norm": _norm(w), "dist_mn": _norm(w - w_mn),
            "trace": full_trace(w, problem.X, problem.y, exponent)}


def _gradient(w, exponent, Xb, yb, label_amp, signs):
    """Minibatch gradient of (1/2B)‖X_bφ(w) − y_b − σξ‖², with σ = label_amp (0 for runs without label noise)."""
    r = _norm(w)
    rg = r ** exponent
    pred = (rg.unsqueeze(-1) * w) @ Xb.transpose(1, 2)  # (S, M, B)
    res = pred - yb.unsqueeze(1)
    if label_amp is not None:
        res = res - label_amp.unsqueeze(-1) * signs.unsqueeze(1)
    ga = res @ Xb / Xb.shape[1]  # ∇_α, (S, M, d)
    wg = (w * ga).sum(-1)
    return rg.unsqueeze(-1) * ga + (exponent * r ** (exponent - 2) * wg).unsqueeze(-1) * w  # Jᵀ∇_α, J symmetric


def gd_polish(w: torch.Tensor, problem: Problem, exponent, lr, steps: int, alive: torch.Tensor | None = None,
              start_step=0, diverged_at: torch.Tensor | None = None) -> torch.Tensor:
    """`steps` full-batch GD steps on L̂ at learning rate lr (broadcast to (S, M)); runs that turn non-finite are
    recorded in diverged_at (at start_step + k + 1) and frozen."""
    require_int("steps", steps)
    exponent = _like(exponent, w)
    lr = _like(lr, w).expand(w.shape[:-1]).clone()
    w = w.clone()
    alive = torch.isfinite(w.sum(-1)) if alive is None else alive.clone()
    for k in range(steps):
        grad = _gradient(w, exponent, problem.X, problem.y, None, None)
        w = w - (lr * alive).unsqueeze(-1) * grad
        bad = ~torch.isfinite(w.sum(-1)) & alive
        if bad.any():
            if diverged_at is not None:
                step = torch.as_tensor(start_step, device=w.device) + k + 1
                diverged_at[bad] = step.expand_as(diverged_at)[bad]
            alive &= ~bad
            w[bad] = 1.0
    return w


@dataclass
class _Runs:
    """The M variants as tensors on the problem's device, and each run's learning rate at step t."""

    exponent: torch.Tensor  # (M,)
    lr: torch.Tensor
    t1: torch.Tensor  # decay step T₁
    t_run_end: torch.Tensor  # the run's SGD end T₁ + T₂
    decay_factor: float
    label_amp: torch.Tensor | None  # σ for label-noise runs, 0 for the others; None when no run has label noise
    iso_amp: torch.Tensor | None  # the same for isotropic noise

    @classmethod
    def of(cls, variants: Variants, schedule: Schedule, dtype, device) -> "_Runs":
        t1 = torch.tensor(variants.decay_step, dtype=torch.int64, device=device)
        sigma = torch.tensor(variants.sigma, dtype=dtype, device=device)
        is_label = torch.tensor([z == "label" for z in variants.noise], device=device)
        is_iso = torch.tensor([z == "isotropic" for z in variants.noise], device=device)
        return cls(torch.tensor(variants.exponent, dtype=dtype, device=device),
                   torch.tensor(variants.lr, dtype=dtype, device=device), t1, t1 + schedule.small_lr_steps,
                   schedule.decay_factor, (sigma * is_label) if bool(is_label.any()) else None,
                   (sigma * is_iso) if bool(is_iso.any()) else None)

    def rate(self, t: int) -> torch.Tensor:
        """η_t: η before T₁, decay_factor·η until the run's SGD end, then 0 (frozen)."""
        return torch.where(t < self.t1, self.lr, torch.where(t < self.t_run_end, self.lr * self.decay_factor, 0.0))


class _NoiseStream:
    """The noise of step t for every seed (minibatch indices, label signs, Gaussian), drawn NOISE_BLOCK steps at a
    time."""

    def __init__(self, problem: Problem, batch_size: int):
        self.problem, self.batch_size, self.block, self.draws = problem, batch_size, None, None

    def at(self, t: int):
        if t // NOISE_BLOCK != self.block:
            self.block = t // NOISE_BLOCK
            p = self.problem
            draws = [noise_block(s, self.block, p.n, p.d, self.batch_size) for s in p.seeds]
            self.draws = (torch.as_tensor(np.stack([c[0] for c in draws]), device=p.X.device),
                          torch.as_tensor(np.stack([c[1] for c in draws]), dtype=p.X.dtype, device=p.X.device),
                          torch.as_tensor(np.stack([c[2] for c in draws]), dtype=p.X.dtype, device=p.X.device))
        j = t % NOISE_BLOCK
        return tuple(x[:, j] for x in self.draws)


def _noisy_gradient(w, problem: Problem, runs: _Runs, idx, signs, gauss):
    """The step's minibatch gradient with its label noise, plus the isotropic noise σ √(tr G(w)/(B d)) ζ."""
    S, B, d = problem.S, idx.shape[1], problem.d
    Xb = torch.gather(problem.X, 1, idx.unsqueeze(-1).expand(S, B, d))
    yb = torch.gather(problem.y, 1, idx)
    grad = _gradient(w, runs.exponent, Xb, yb, runs.label_amp, signs)
    if runs.iso_amp is not None:
        tr_gn = gauss_newton_trace(w, problem.X, runs.exponent)
        grad = grad + (runs.iso_amp * torch.sqrt(tr_gn / (B * d))).unsqueeze(-1) * gauss.unsqueeze(1)
    return grad


class _Log:
    """What a run of `sgd` has logged so far, and the state a checkpoint keeps."""

    def __init__(self, problem: Problem, runs: _Runs, recording: Recording, t_end: int):
        S, M, d = problem.S, len(runs.exponent), problem.d
        dtype, device = problem.X.dtype, problem.X.device
        self.problem, self.runs, self.recording = problem, runs, recording
        self.steps = sorted(set(range(0, t_end + 1, recording.log_every)) | {t_end})
        self.index = {s: i for i, s in enumerate(self.steps)}
        self.w_mn = problem.w_mn(runs.exponent)
        nan = lambda *shape: torch.full(shape, float("nan"), dtype=dtype, device=device)
        self.curves = {k: nan(S, M, len(self.steps)) for k in CURVES}
        self.sgd_end = {k: nan(S, M) for k in CURVES}
        self.prefix = nan(S, M, recording.prefix_steps + 1)
        self.points = nan(S, M, len(self.steps), d) if recording.keep_points else nan(0)

    def measure(self, w):
        return measure(w, self.problem, self.runs.exponent, self.w_mn)

    def record(self, t: int, w, alive):
        """Log iterate t: the curves at logged steps, the values at a run's SGD end, the prefix of test losses."""
        values = None
        t_run_end = self.runs.t_run_end
        if t in self.index:
            values = self.measure(w)
            running = (t <= t_run_end).unsqueeze(0) & alive
            for k, v in values.items():
                self.curves[k][:, :, self.index[t]] = torch.where(running, v, torch.nan)
            if self.recording.keep_points:
                self.points[:, :, self.index[t]] = torch.where(running.unsqueeze(-1), w, torch.nan)
        ending = (t_run_end == t).unsqueeze(0) & alive
        if bool(ending.any()):
            values = values or self.measure(w)
            for k, v in values.items():
                self.sgd_end[k] = torch.where(ending, v, self.sgd_end[k])
        if t <= self.recording.prefix_steps:
            self.prefix[:, :, t] = torch.where(alive, test_loss(w, self.problem.alpha_star, self.runs.exponent),
                                               torch.nan)

    def state(self, w, alive, diverged_at, next_step: int) -> dict:
        return {"w": w.cpu(), "alive": alive.cpu(), "diverged_at": diverged_at.cpu(),
                "curves": {k: v.cpu() for k, v in self.curves.items()},
                "sgd_end": {k: v.cpu() for k, v in self.sgd_end.items()},
                "prefix": self.prefix.cpu(), "points": self.points.cpu(), "next_step": next_step}

    def resume(self, state: dict | None, w, alive, diverged_at):
        """(w, alive, diverged_at, next step) from a checkpoint's state when it is of this run, else the start."""
        S, M, L = self.curves["test_loss"].shape
        if state is None or tuple(state["w"].shape) != (S, M, self.problem.d) or state["curves"]["test_loss"].shape[
                -1] != L:
            return w, alive, diverged_at, 0
        device = w.device
        self.curves = {k: v.to(device) for k, v in state["curves"].items()}
        self.sgd_end = {k: v.to(device) for k, v in state["sgd_end"].items()}
        self.prefix, self.points = state["prefix"].to(device), state["points"].to(device)
        return (state["w"].to(device), state["alive"].to(device), state["diverged_at"].to(device),
                int(state["next_step"]))

    def result(self, w_before, w, alive, diverged_at) -> SGDLog:
        final = {k: torch.where(alive, v, torch.nan) for k, v in self.measure(w).items()}
        np_ = lambda v: v.detach().cpu().numpy()
        return SGDLog(
            steps=np.asarray(self.steps, dtype=np.int64),
            curves={k: np_(v) for k, v in self.curves.items()},
            prefix_test_loss=np_(self.prefix),
            sgd_end={k: np_(v) for k, v in self.sgd_end.items()},
            final={k: np_(v) for k, v in final.items()},
            w_before_polish=np_(torch.where(alive.unsqueeze(-1), w_before, torch.nan)),
            w_final=np_(torch.where(alive.unsqueeze(-1), w, torch.nan)),
            diverged_at=np_(diverged_at),
            extra={"points": np_(self.points)} if self.recording.keep_points else {},
        )


def _start(problem, w0, variants, schedule, until) -> torch.Tensor:
    """Check sgd's inputs; w₀ as (S, M, d) on the problem's device."""
    require(isinstance(problem, Problem), "problem", "a Problem (make_problem or Problem.from_arrays)",
            type(problem).__name__)
    require(isinstance(variants, Variants), "variants", "a Variants (Variants(...) or Variants.grid)",
            type(variants).__name__)
    require(isinstance(schedule, Schedule), "schedule", "a Schedule", type(schedule).__name__)
    if until is not None:
        require_int("until", until)
    S, n, d, M = problem.S, problem.n, problem.d, len(variants)
    require(schedule.batch_size <= n, "batch_size", f"<= n = {n}", schedule.batch_size)
    w0 = torch.as_tensor(w0, dtype=problem.X.dtype, device=problem.X.device)
    require(tuple(w0.shape) in ((S, d), (S, M, d)), "w0", f"of shape (S, d) = ({S}, {d}) or (S, M, d) = ({S}, {M}, "
            f"{d})", tuple(w0.shape))
    if w0.dim() == 2:
        w0 = w0.unsqueeze(1).expand(S, M, d)
    require(bool(torch.isfinite(w0).all()), "w0", "finite", "non-finite values")
    return w0


def sgd(problem: Problem, w0: torch.Tensor, variants: Variants, schedule: Schedule = Schedule(),
        recording: Recording = Recording(), *, until: int | None = None, checkpoint: Checkpoint | None = None,
        progress: bool = False, description: str = "SGD") -> SGDLog:
    """SGD on L̂ for S problems × M variants at once (float64), with per-run schedule and noise model.

    Step t of a run: η_t = η for t < T₁, decay_factor·η for T₁ ≤ t < T₁ + T₂, then the run is frozen until the
    longest run ends; a minibatch b_t of B distinct samples (shared by all variants of a seed);
    w_{t+1} = w_t − η_t (∇L̂_b(w_t) + noise), where the noise model is
    - "label": fresh labels y_i + σξ_i, ξ_i = ±1, in the minibatch loss (noise ∝ the Hessian on M);
    - "plain": none beyond the minibatch (it vanishes on M for noise-free labels);
    - "isotropic": σ √(tr G(w_t)/(B d)) ζ_t, ζ_t ~ N(0, I_d), G the Gauss–Newton matrix: the same total variance as
      label noise, spread evenly over all directions.
    Then T₃ full-batch GD steps. `recording`: what is logged (`Recording`). `until`: stop after that many SGD steps,
    no polish (the drift check). Non-finite runs are recorded in diverged_at and frozen, never raised. Resumable
    through `checkpoint` (not with `until`); `progress`: a progress bar labelled `description`.
    """
    w = _start(problem, w0, variants, schedule, until).clone()
    require(isinstance(recording, Recording), "recording", "a Recording", type(recording).__name__)
    device = problem.X.device
    runs = _Runs.of(variants, schedule, problem.X.dtype, device)
    t_end = int(runs.t_run_end.max())
    t_stop = t_end if until is None else min(int(until), t_end)
    log = _Log(problem, runs, recording, t_end)
    alive = torch.ones(w.shape[:-1], dtype=torch.bool, device=device)
    diverged_at = torch.full(w.shape[:-1], -1, dtype=torch.int64, device=device)
    resumable = checkpoint is not None and until is None
    w, alive, diverged_at, start = log.resume(checkpoint.load() if resumable else None, w, alive, diverged_at)

    noise = _NoiseStream(problem, schedule.batch_size)
    bar = tqdm(total=t_end + (schedule.polish_steps if until is None else 0), initial=start, desc=description,
               disable=not progress, mininterval=1.0)
    with np.errstate(all="ignore"):
        for t in range(start, t_stop):
            log.record(t, w, alive)
            w = w - (runs.rate(t) * alive).unsqueeze(-1) * _noisy_gradient(w, problem, runs, *noise.at(t))
            bad = ~torch.isfinite(w.sum(-1)) & alive
            if bool(bad.any()):
                diverged_at[bad] = t + 1
                alive &= ~bad
                w = torch.where(bad.unsqueeze(-1), torch.ones_like(w), w)
            if (t + 1) % SAVE_EVERY == 0:
                bar.update(t + 1 - bar.n)
                if resumable and checkpoint.due():
                    checkpoint.save(log.state(w, alive, diverged_at, t + 1))
        log.record(t_stop, w, alive)
        w_before = w.clone()
        if until is None:
            polish_lr = runs.lr if schedule.polish_lr is None else torch.full_like(runs.lr, schedule.polish_lr)
            w = gd_polish(w, problem, runs.exponent, polish_lr, schedule.polish_steps, alive, runs.t_run_end,
                          diverged_at)
        alive = diverged_at < 0
        bar.update(bar.total - bar.n)
    bar.close()
    return log.result(w_before, w, alive, diverged_at)
