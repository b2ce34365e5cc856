"""The nonlinear toy model of Ren, Ma & Ying (AISTATS 2024): its losses, minima manifold, Hessian trace and SGD.

The paper's exponent γ is `exponent` in the code (`gamma` is the dynamical loss's class weights Γ elsewhere in the
package). What is the paper's and what is the book's reading:

- **Paper** (abstract and a third-party review): the model f_w(x) = ‖w‖^γ wᵀx with w ∈ ℝ^d, i.e. a linear predictor
  α = φ(w) = ‖w‖^γ w reparameterized so that γ plays the role of depth; squared loss; Gaussian inputs; an extended
  large-learning-rate phase of SGD steers w toward the minimum-norm solution of the training loss.
- **Book's reading** (our own derivation; the paper's exact setting is not verified here): teacher–student data
  x ~ N(0, I_d), α* ~ N(0, I/d), y = α*ᵀx (noise-free), n < d samples; train loss L̂(w) = (1/2n)‖Xφ(w) − y‖²;
  test (population) loss L(w) = ½‖φ(w) − α*‖²; minima manifold M = {w : Xφ(w) = y} = φ⁻¹(α_mn + ker X);
  w_mn = φ⁻¹(X⁺y) is the point of M with the smallest ‖w‖; the Hessian trace on M depends only on r = ‖w‖ and, when
  ‖X‖_F² ‖α_mn‖² ≥ (2 + γ)‖y‖², is smallest at w_mn, so noise that pushes toward flat minima (label noise) drifts
  along M toward w_mn. The three SGD noise models below are the book's choice: the paper's noise model is open.

Shapes: S problems (one per seed) × M variants per problem. Points are (S, M, d); X is (S, n, d); y is (S, n);
α* and α_mn are (S, d); γ broadcasts to (S, M). Everything is torch (float64 by default) on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import torch
from tqdm import tqdm

from ...models import float_dtype, torch_device
from ...runtime import Checkpoint
from ...validation import require, require_choice, require_finite, require_int

NOISES = ("label", "plain", "isotropic")
DATA_STREAM, INIT_STREAM, NOISE_STREAM = 0, 1, 2  # numpy SeedSequence([seed, stream, …]) streams
NOISE_BLOCK = 1024  # steps of noise drawn at once per seed; fixed, so any batching or resume draws the same noise
SAVE_EVERY = 1000  # steps between checkpoint opportunities (a checkpoint is written when it is due)


# ----------------------------------------------------------------------------------------------------------------
# The reparameterization φ and the losses
# ----------------------------------------------------------------------------------------------------------------

def _norm(v: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(v, dim=-1)


def _like(value, ref: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=ref.dtype, device=ref.device)


def phi(w: torch.Tensor, exponent) -> torch.Tensor:
    """φ(w) = ‖w‖^γ w (paper): the effective linear predictor α of f_w(x) = ‖w‖^γ wᵀx. ‖φ(w)‖ = ‖w‖^{1+γ}."""
    return (_norm(w) ** _like(exponent, w)).unsqueeze(-1) * w


def phi_inv(alpha: torch.Tensor, exponent) -> torch.Tensor:
    """φ⁻¹(α) = ‖α‖^{−γ/(1+γ)} α (book's derivation: φ is a radial bijection of ℝ^d); φ⁻¹(0) = 0."""
    exponent = _like(exponent, alpha)
    s = _norm(alpha)
    scale = torch.where(s > 0, s.clamp_min(torch.finfo(alpha.dtype).tiny) ** (-exponent / (1 + exponent)),
                        torch.zeros_like(s))
    return scale.unsqueeze(-1) * alpha


def residuals(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, exponent) -> torch.Tensor:
    """Xφ(w) − y, shape (S, M, n)."""
    return phi(w, exponent) @ X.transpose(1, 2) - y.unsqueeze(1)


def train_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, exponent) -> torch.Tensor:
    """L̂(w) = (1/2n)‖Xφ(w) − y‖², shape (S, M)."""
    return 0.5 * residuals(w, X, y, exponent).square().mean(-1)


def test_loss(w: torch.Tensor, alpha_star: torch.Tensor, exponent) -> torch.Tensor:
    """L(w) = ½‖φ(w) − α*‖²: the population squared loss ½E(f_w(x) − α*ᵀx)² for x ~ N(0, I), noise-free labels."""
    return 0.5 * (phi(w, exponent) - alpha_star.unsqueeze(1)).square().sum(-1)


test_loss.__test__ = False  # not a pytest test when imported into a test module


def min_norm_solution(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """α_mn = X⁺y = Xᵀ(XXᵀ)⁻¹y for X of full row rank n < d, shape (S, d)."""
    return (X.transpose(1, 2) @ torch.linalg.solve(X @ X.transpose(1, 2), y.unsqueeze(-1))).squeeze(-1)


def expected_min_norm_test_loss(n: int, d: int, alpha_second_moment: float = 1.0) -> float:
    """E[L(w_mn)] = ½(1 − n/d) E‖α*‖² for α* isotropic and independent of X (book's derivation): α_mn = Pα* with P
    the projection on the row space of X (rank n), so L(w_mn) = ½‖(I − P)α*‖²."""
    return 0.5 * (1.0 - n / d) * alpha_second_moment


def kernel_basis(X: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of ker X, shape (S, d, d − n)."""
    n = X.shape[1]
    _, _, vh = torch.linalg.svd(X, full_matrices=True)
    return vh[:, n:, :].transpose(1, 2)


def sample_interpolators(X: torch.Tensor, y: torch.Tensor, count: int, scale: float = 1.0,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """`count` interpolators α_mn + v per problem, v ∈ ker X Gaussian with E‖v‖² = scale² (d − n)/d, shape (S, count, d).
    v is drawn without knowledge of α*; each such α costs ½‖v‖² more test loss than α_mn on average."""
    S, n, d = X.shape
    g = torch.randn(S, count, d, dtype=X.dtype, device=X.device, generator=generator) * (scale / math.sqrt(d))
    return min_norm_solution(X, y).unsqueeze(1) + project_kernel(X, g)


def project_kernel(X: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(I − P)v: the part of v (S, …, d) in ker X, with P = Xᵀ(XXᵀ)⁻¹X the projection on the row space."""
    xv = v @ X.transpose(1, 2)  # (S, …, n)
    z = torch.linalg.solve(X @ X.transpose(1, 2), xv.transpose(1, 2)).transpose(1, 2)
    return v - z @ X


# ----------------------------------------------------------------------------------------------------------------
# Curvature
# ----------------------------------------------------------------------------------------------------------------

def _gauss_newton_formula(r, xf2, xw2, exponent, n) -> torch.Tensor:
    """(1/n)[r^{2γ}‖X‖_F² + (2γ + γ²) r^{2γ−2}‖Xw‖²] from r = ‖w‖, ‖X‖_F² and ‖Xw‖²."""
    return (r ** (2 * exponent) * xf2 + (2 * exponent + exponent ** 2) * r ** (2 * exponent - 2) * xw2) / n


def gauss_newton_trace(w: torch.Tensor, X: torch.Tensor, exponent) -> torch.Tensor:
    """tr of the Gauss–Newton part (1/n) JᵀXᵀXJ, J = ∂φ/∂w = r^γ I + γ r^{γ−2} wwᵀ (book's derivation):
    (1/n)[r^{2γ}‖X‖_F² + (2γ + γ²) r^{2γ−2}‖Xw‖²], shape (S, M). Equals the full trace on the manifold."""
    xf2 = X.square().sum((1, 2)).unsqueeze(1)
    xw2 = (w @ X.transpose(1, 2)).square().sum(-1)
    return _gauss_newton_formula(_norm(w), xf2, xw2, _like(exponent, w), X.shape[1])


def hessian_trace(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, exponent) -> torch.Tensor:
    """tr ∇²L̂(w) at any w ≠ 0, shape (S, M) (book's derivation, tested against autograd):
    Gauss–Newton trace + (γ(d + γ)/n) r^{γ−2} Σ_i (x_iᵀφ(w) − y_i)(x_iᵀw), because tr ∇²(x_iᵀφ(w)) =
    γ(d + γ) r^{γ−2} x_iᵀw."""
    exponent_t = _like(exponent, w)
    n, d = X.shape[1], X.shape[2]
    r = _norm(w)
    xw = w @ X.transpose(1, 2)
    res = (r ** exponent_t).unsqueeze(-1) * xw - y.unsqueeze(1)
    curvature = exponent_t * (d + exponent_t) * r ** (exponent_t - 2) * (res * xw).sum(-1) / n
    return gauss_newton_trace(w, X, exponent) + curvature


def manifold_trace(r: torch.Tensor, X: torch.Tensor, y: torch.Tensor, exponent) -> torch.Tensor:
    """The paper notes' closed form on M, a function of r = ‖w‖ only (book's derivation, checked): the Gauss–Newton
    trace with ‖Xw‖² = ‖y‖² r^{−2γ}, which holds on M: tr ∇²L̂ = (1/n)[‖X‖_F² r^{2γ} + (2γ + γ²)‖y‖² r^{−2}].
    r has shape (S, …)."""
    exponent = _like(exponent, r)
    extra = (1,) * (r.dim() - 1)
    xf2 = X.square().sum((1, 2)).reshape(-1, *extra)
    y2 = y.square().sum(-1).reshape(-1, *extra)
    return _gauss_newton_formula(r, xf2, y2 * r ** (-2 * exponent), exponent, X.shape[1])


def min_norm_radius(X: torch.Tensor, y: torch.Tensor, exponent) -> torch.Tensor:
    """r_mn = ‖w_mn‖ = ‖α_mn‖^{1/(1+γ)}: the smallest ‖w‖ on M, shape (S, …) like γ."""
    a = _norm(min_norm_solution(X, y))
    exponent = _like(exponent, a)
    a = a.reshape(-1, *((1,) * exponent.dim()))
    return a ** (1 / (1 + exponent))


def flattest_radius(X: torch.Tensor, y: torch.Tensor, exponent) -> torch.Tensor:
    """The ‖w‖ of the flattest points of M (smallest Hessian trace), shape (S, …) like γ (book's derivation).

    On M the trace f(r) = (1/n)[‖X‖_F² r^{2γ} + (2γ + γ²)‖y‖² r^{−2}] has f′(r) > 0 iff
    r^{2γ+2} > (2 + γ)‖y‖²/‖X‖_F², and M holds exactly the r ≥ r_mn. So the flattest radius is
    max(r_mn, ((2 + γ)‖y‖²/‖X‖_F²)^{1/(2γ+2)}); it is r_mn (w_mn is the flattest point) iff
    ‖X‖_F² ‖α_mn‖² ≥ (2 + γ)‖y‖², which holds when the stable rank of X exceeds 2 + γ (roughly n > 2 + γ) and fails
    for n = 1. For γ = 0 the trace is constant on M and r_mn is returned by convention.
    """
    r_mn = min_norm_radius(X, y, exponent)
    exponent = _like(exponent, r_mn)
    extra = (1,) * (r_mn.dim() - 1)
    ratio = ((2 + exponent) * y.square().sum(-1).reshape(-1, *extra) / X.square().sum((1, 2)).reshape(-1, *extra))
    r_c = ratio ** (1 / (2 * exponent + 2))
    return torch.where(exponent > 0, torch.maximum(r_mn, r_c), r_mn)


# ----------------------------------------------------------------------------------------------------------------
# Teacher–student problems
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Problem:
    """S teacher–student problems: X (S, n, d), y = Xα* (S, n), α* (S, d)."""

    X: torch.Tensor
    y: torch.Tensor
    alpha_star: torch.Tensor
    seeds: tuple = ()

    @property
    def n(self) -> int:
        return self.X.shape[1]

    @property
    def d(self) -> int:
        return self.X.shape[2]

    @property
    def S(self) -> int:
        return self.X.shape[0]

    def alpha_mn(self) -> torch.Tensor:
        return min_norm_solution(self.X, self.y)

    def w_mn(self, exponent) -> torch.Tensor:
        """w_mn = φ⁻¹(α_mn) for each γ: shape (S, M, d) for γ of shape (M,), (S, d) for a scalar γ."""
        exponent = _like(exponent, self.X)
        if exponent.dim() == 0:
            return phi_inv(self.alpha_mn(), exponent)
        return phi_inv(self.alpha_mn().unsqueeze(1).expand(-1, exponent.shape[-1], -1), exponent)

    def select(self, index) -> "Problem":
        index = [index] if isinstance(index, int) else list(index)
        return Problem(self.X[index], self.y[index], self.alpha_star[index], tuple(self.seeds[i] for i in index))

    @classmethod
    def from_arrays(cls, X, alpha_star, *, dtype=torch.float64, device="cpu") -> "Problem":
        """One problem from an explicit X (n, d) and α* (d,)."""
        require(np.ndim(X) == 2, "X", "a matrix of shape (n, d)", np.shape(X))
        require(np.ndim(alpha_star) == 1, "alpha_star", "a vector of shape (d,)", np.shape(alpha_star))
        dtype, device = float_dtype(dtype), torch_device(device)
        X = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=dtype, device=device).reshape(1, *np.shape(X))
        a = torch.as_tensor(np.asarray(alpha_star, dtype=np.float64), dtype=dtype, device=device).reshape(1, -1)
        require(X.shape[2] == a.shape[1], "alpha_star", f"a vector of length d = {X.shape[2]}", tuple(a.shape))
        return cls(X, (X @ a.unsqueeze(-1)).squeeze(-1), a, (None,))


def make_problem(seeds, n: int, d: int, *, dtype=torch.float64, device="cpu") -> Problem:
    """Seeded teacher–student problems: per seed, X with i.i.d. N(0, 1) entries (x ~ N(0, I_d)), α* ~ N(0, I/d),
    y = Xα* (book's reading of the paper's setting)."""
    seeds = _seeds(seeds)
    require_int("n", n, at_least=1)
    require_int("d", d, at_least=2)
    require(n < d, "n", f"< d = {d} (the model must be overparameterized)", n)
    dtype, device = float_dtype(dtype), torch_device(device)
    Xs, alphas = [], []
    for seed in seeds:
        rng = np.random.default_rng([seed, DATA_STREAM])
        Xs.append(rng.standard_normal((n, d)))
        alphas.append(rng.standard_normal(d) / math.sqrt(d))
    X = torch.as_tensor(np.stack(Xs), dtype=dtype, device=device)
    a = torch.as_tensor(np.stack(alphas), dtype=dtype, device=device)
    return Problem(X, (X @ a.unsqueeze(-1)).squeeze(-1), a, seeds)


def initial_points(seeds, d: int, norm: float, *, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """w₀ uniform on the sphere of radius `norm` (the notes' check uses ‖w₀‖ = 1.5), one per seed, shape (S, d)."""
    seeds = _seeds(seeds)
    require_int("d", d, at_least=1)
    require_finite("init_norm", norm, positive=True)
    dtype, device = float_dtype(dtype), torch_device(device)
    out = []
    for seed in seeds:
        g = np.random.default_rng([seed, INIT_STREAM]).standard_normal(d)
        out.append(norm * g / np.linalg.norm(g))
    return torch.as_tensor(np.stack(out), dtype=dtype, device=device)


def _seeds(seeds) -> tuple:
    seeds = (seeds,) if isinstance(seeds, int) and not isinstance(seeds, bool) else tuple(seeds)
    require(len(seeds) > 0, "seeds", "a non-empty tuple of integers >= 0", seeds)
    for s in seeds:
        require_int("seeds", s)
    return seeds


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
            "trace": hessian_trace(w, problem.X, problem.y, exponent)}


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


def sgd(problem: Problem, w0: torch.Tensor, variants: Variants, schedule: Schedule = Schedule(), *,
        log_every: int = 500, prefix_steps: int = 100, until: int | None = None, keep_points: bool = False,
        progress: bool = False, checkpoint: Checkpoint | None = None, description: str = "SGD") -> SGDLog:
    """SGD on L̂ for S problems × M variants at once (float64), with per-run schedule and noise model.

    Step t of a run: η_t = η for t < T₁, decay_factor·η for T₁ ≤ t < T₁ + T₂, then the run is frozen until the
    longest run ends; a minibatch b_t of B distinct samples (shared by all variants of a seed);
    w_{t+1} = w_t − η_t (∇L̂_b(w_t) + noise), where the noise model is
    - "label": fresh labels y_i + σξ_i, ξ_i = ±1, in the minibatch loss (noise ∝ the Hessian on M);
    - "plain": none beyond the minibatch (it vanishes on M for noise-free labels);
    - "isotropic": σ √(tr G(w_t)/(B d)) ζ_t, ζ_t ~ N(0, I_d), G the Gauss–Newton matrix: the same total variance as
      label noise, spread evenly over all directions.
    Then T₃ full-batch GD steps. `until`: stop after that many SGD steps, no polish (the drift check).
    keep_points: also keep the iterates at the logged steps, extra["points"] (S, M, L, d) (for pictures). Non-finite
    runs are recorded in diverged_at and frozen, never raised. Resumable through `checkpoint`.
    """
    require(isinstance(problem, Problem), "problem", "a Problem (make_problem or Problem.from_arrays)",
            type(problem).__name__)
    require(isinstance(variants, Variants), "variants", "a Variants (Variants(...) or Variants.grid)",
            type(variants).__name__)
    require(isinstance(schedule, Schedule), "schedule", "a Schedule", type(schedule).__name__)
    require_int("log_every", log_every, at_least=1)
    require_int("prefix_steps", prefix_steps)
    if until is not None:
        require_int("until", until)
    device, dtype = problem.X.device, problem.X.dtype
    S, n, d = problem.S, problem.n, problem.d
    M = len(variants)
    require(schedule.batch_size <= n, "batch_size", f"<= n = {n}", schedule.batch_size)
    w0 = torch.as_tensor(w0, dtype=dtype, device=device)
    require(tuple(w0.shape) in ((S, d), (S, M, d)), "w0", f"of shape (S, d) = ({S}, {d}) or (S, M, d) = ({S}, {M}, "
            f"{d})", tuple(w0.shape))
    if w0.dim() == 2:
        w0 = w0.unsqueeze(1).expand(S, M, d)
    require(bool(torch.isfinite(w0).all()), "w0", "finite", "non-finite values")

    exponent = torch.tensor(variants.exponent, dtype=dtype, device=device)
    lr = torch.tensor(variants.lr, dtype=dtype, device=device)
    t1 = torch.tensor(variants.decay_step, dtype=torch.int64, device=device)
    t_run_end = t1 + schedule.small_lr_steps  # each run's SGD end
    sigma = torch.tensor(variants.sigma, dtype=dtype, device=device)
    is_label = torch.tensor([z == "label" for z in variants.noise], device=device)
    is_iso = torch.tensor([z == "isotropic" for z in variants.noise], device=device)
    label_amp = (sigma * is_label) if bool(is_label.any()) else None
    iso_amp = (sigma * is_iso) if bool(is_iso.any()) else None
    B = schedule.batch_size
    xf2 = problem.X.square().sum((1, 2)).unsqueeze(1)

    t_end = int(t_run_end.max())
    t_stop = t_end if until is None else min(int(until), t_end)
    log_steps = sorted(set(range(0, t_end + 1, log_every)) | {t_end})
    log_index = {s: i for i, s in enumerate(log_steps)}
    w_mn = problem.w_mn(exponent)

    curves = {k: torch.full((S, M, len(log_steps)), float("nan"), dtype=dtype, device=device) for k in CURVES}
    sgd_end = {k: torch.full((S, M), float("nan"), dtype=dtype, device=device) for k in CURVES}
    prefix = torch.full((S, M, prefix_steps + 1), float("nan"), dtype=dtype, device=device)
    points = torch.full((S, M, len(log_steps), d) if keep_points else (0,), float("nan"), dtype=dtype, device=device)
    w = w0.clone()
    alive = torch.ones(S, M, dtype=torch.bool, device=device)
    diverged_at = torch.full((S, M), -1, dtype=torch.int64, device=device)
    start = 0
    state = checkpoint.load() if checkpoint is not None and until is None else None
    if state is not None and tuple(state["w"].shape) == (S, M, d) and state["curves"]["test_loss"].shape[-1] == len(
            log_steps):
        w, alive, diverged_at = state["w"].to(device), state["alive"].to(device), state["diverged_at"].to(device)
        curves = {k: v.to(device) for k, v in state["curves"].items()}
        sgd_end = {k: v.to(device) for k, v in state["sgd_end"].items()}
        prefix, start = state["prefix"].to(device), int(state["next_step"])
        points = state["points"].to(device)

    def record(t: int, w):
        values = None
        if t in log_index:
            values = measure(w, problem, exponent, w_mn)
            running = (t <= t_run_end).unsqueeze(0) & alive
            for k, v in values.items():
                curves[k][:, :, log_index[t]] = torch.where(running, v, torch.nan)
            if keep_points:
                points[:, :, log_index[t]] = torch.where(running.unsqueeze(-1), w, torch.nan)
        ending = (t_run_end == t).unsqueeze(0) & alive
        if bool(ending.any()):
            values = values or measure(w, problem, exponent, w_mn)
            for k, v in values.items():
                sgd_end[k] = torch.where(ending, v, sgd_end[k])
        if t <= prefix_steps:
            prefix[:, :, t] = torch.where(alive, test_loss(w, problem.alpha_star, exponent), torch.nan)

    block_id, noise = None, None
    bar = tqdm(total=t_end + (schedule.polish_steps if until is None else 0), initial=start, desc=description,
               disable=not progress, mininterval=1.0)
    with np.errstate(all="ignore"):
        for t in range(start, t_stop):
            record(t, w)
            if t // NOISE_BLOCK != block_id:
                block_id = t // NOISE_BLOCK
                draws = [noise_block(s, block_id, n, d, B) for s in problem.seeds]
                noise = (torch.as_tensor(np.stack([c[0] for c in draws]), device=device),
                         torch.as_tensor(np.stack([c[1] for c in draws]), dtype=dtype, device=device),
                         torch.as_tensor(np.stack([c[2] for c in draws]), dtype=dtype, device=device))
            j = t % NOISE_BLOCK
            idx, signs, gauss = noise[0][:, j], noise[1][:, j], noise[2][:, j]
            Xb = torch.gather(problem.X, 1, idx.unsqueeze(-1).expand(S, B, d))
            yb = torch.gather(problem.y, 1, idx)
            grad = _gradient(w, exponent, Xb, yb, label_amp, signs)
            if iso_amp is not None:
                r = _norm(w)
                xw2 = (w @ problem.X.transpose(1, 2)).square().sum(-1)
                tr_gn = (r ** (2 * exponent) * xf2 + (2 * exponent + exponent ** 2) * r ** (2 * exponent - 2) * xw2) / n
                grad = grad + (iso_amp * torch.sqrt(tr_gn / (B * d))).unsqueeze(-1) * gauss.unsqueeze(1)
            eta = torch.where(t < t1, lr, torch.where(t < t_run_end, lr * schedule.decay_factor, 0.0))
            w = w - (eta * alive).unsqueeze(-1) * grad
            bad = ~torch.isfinite(w.sum(-1)) & alive
            if bool(bad.any()):
                diverged_at[bad] = t + 1
                alive &= ~bad
                w = torch.where(bad.unsqueeze(-1), torch.ones_like(w), w)
            if (t + 1) % SAVE_EVERY == 0:
                bar.update(t + 1 - bar.n)
                if checkpoint is not None and until is None and checkpoint.due():
                    checkpoint.save({"w": w.cpu(), "alive": alive.cpu(), "diverged_at": diverged_at.cpu(),
                                     "curves": {k: v.cpu() for k, v in curves.items()},
                                     "sgd_end": {k: v.cpu() for k, v in sgd_end.items()},
                                     "prefix": prefix.cpu(), "points": points.cpu(), "next_step": t + 1})
        record(t_stop, w)
        w_before = w.clone()
        if until is None:
            polish_lr = lr if schedule.polish_lr is None else torch.full_like(lr, schedule.polish_lr)
            w = gd_polish(w, problem, exponent, polish_lr, schedule.polish_steps, alive, t_run_end, diverged_at)
        alive = diverged_at < 0
        bar.update(bar.total - bar.n)
    bar.close()
    final = {k: torch.where(alive, v, torch.nan) for k, v in measure(w, problem, exponent, w_mn).items()}
    np_ = lambda v: v.detach().cpu().numpy()
    return SGDLog(
        steps=np.asarray(log_steps, dtype=np.int64),
        curves={k: np_(v) for k, v in curves.items()},
        prefix_test_loss=np_(prefix),
        sgd_end={k: np_(v) for k, v in sgd_end.items()},
        final={k: np_(v) for k, v in final.items()},
        w_before_polish=np_(torch.where(alive.unsqueeze(-1), w_before, torch.nan)),
        w_final=np_(torch.where(alive.unsqueeze(-1), w, torch.nan)),
        diverged_at=np_(diverged_at),
        extra={"points": np_(points)} if keep_points else {},
    )


# ----------------------------------------------------------------------------------------------------------------
# The 2-D picture (d = 2, n = 1)
# ----------------------------------------------------------------------------------------------------------------

def loss_grid(problem: Problem, exponent: float, extent, size: int) -> dict[str, np.ndarray]:
    """Train and test loss on a size × size grid of w ∈ [x0, x1] × [y0, y1] (d = 2, one problem).
    Returns w1 (size,), w2 (size,), train (size, size) and test (size, size) indexed [i2, i1] (rows = w2)."""
    require(problem.d == 2 and problem.S == 1, "problem", "one problem with d = 2", (problem.S, problem.d))
    ok = isinstance(extent, (tuple, list, np.ndarray)) and len(extent) == 4 and all(
        isinstance(v, (int, float, np.number)) and math.isfinite(v) for v in extent)
    require(ok and extent[0] < extent[1] and extent[2] < extent[3], "extent",
            "finite (x0, x1, y0, y1) with x0 < x1 and y0 < y1", extent)
    require_int("size", size, at_least=2)
    x0, x1, y0, y1 = extent
    w1 = torch.linspace(x0, x1, size, dtype=problem.X.dtype, device=problem.X.device)
    w2 = torch.linspace(y0, y1, size, dtype=problem.X.dtype, device=problem.X.device)
    g2, g1 = torch.meshgrid(w2, w1, indexing="ij")
    points = torch.stack([g1.reshape(-1), g2.reshape(-1)], -1).unsqueeze(0)  # (1, size², 2)
    train = train_loss(points, problem.X, problem.y, exponent).reshape(size, size)
    test = test_loss(points, problem.alpha_star, exponent).reshape(size, size)
    return {"w1": w1.cpu().numpy(), "w2": w2.cpu().numpy(), "train": train.cpu().numpy(), "test": test.cpu().numpy()}


def valley_curve(problem: Problem, exponent: float, s_max: float, points: int) -> np.ndarray:
    """Points of the minima manifold M = φ⁻¹(α_mn + ker X) for one problem with d − n = 1, parameterized by
    α(s) = α_mn + s v (v a unit vector of ker X, s ∈ [−s_max, s_max]); shape (points, d)."""
    require(problem.S == 1 and problem.d - problem.n == 1, "problem", "one problem with d − n = 1",
            (problem.S, problem.d - problem.n))
    require_finite("s_max", s_max, positive=True)
    require_int("points", points, at_least=2)
    v = kernel_basis(problem.X)[0, :, 0]
    s = torch.linspace(-s_max, s_max, points, dtype=problem.X.dtype, device=problem.X.device)
    alpha = problem.alpha_mn()[0] + s.unsqueeze(-1) * v
    return phi_inv(alpha, exponent).cpu().numpy()


def flattest_points(problem: Problem, exponent: float) -> np.ndarray:
    """The flattest points of M for one problem with d − n = 1 (two, symmetric about w_mn; equal to w_mn when w_mn is
    the flattest), shape (2, d)."""
    v = kernel_basis(problem.X)[0, :, 0]
    a_mn = problem.alpha_mn()[0]
    r = flattest_radius(problem.X, problem.y, exponent).reshape(())
    s = torch.sqrt((r ** (2 * (1 + exponent)) - a_mn.square().sum()).clamp_min(0))
    alpha = torch.stack([a_mn + s * v, a_mn - s * v])
    return phi_inv(alpha, exponent).cpu().numpy()
