"""Seeded teacher–student problems of the toy model and the starting points of its runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .core import _like, min_norm_solution, phi_inv
from ....models import float_dtype, torch_device
from ....validation import require, require_finite, require_int

DATA_STREAM, INIT_STREAM, NOISE_STREAM = 0, 1, 2  # numpy SeedSequence([seed, stream, …]) streams

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
