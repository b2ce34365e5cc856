"""Analysis of the toy model: reading the stored `lrd_toy_decay` result (a (γ, noise) slice, the main path, windows
of a curve) and the Monte-Carlo check of the minimum-norm interpolator's test loss (`interpolator_study`).

Arrays of the decay result are indexed (seed, γ, noise, T₁[, step | coordinate]); see `experiments.lrd_toy.run_decay`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .. import lrd_toy as toy


def index(result, gamma: float, noise: str) -> tuple[int, int]:
    """(γ index, noise index) in a decay result; KeyError naming what is stored when absent."""
    gammas, noises = list(result["gammas"]), [str(z) for z in result["noises"]]
    if float(gamma) not in gammas or noise not in noises:
        raise KeyError(f"(gamma={gamma}, noise={noise!r}) is not stored: gammas {gammas}, noises {noises}")
    return gammas.index(float(gamma)), noises.index(noise)


def final(result, quantity: str, gamma: float, noise: str) -> np.ndarray:
    """final_<quantity> after the GD polish, shape (seeds, T₁)."""
    g, z = index(result, gamma, noise)
    return result[f"final_{quantity}"][:, g, z, :]


def main_path(result, quantity: str, gamma: float, noise: str) -> tuple[np.ndarray, np.ndarray]:
    """The longest large-LR run (T₁ = max) up to its decay: (steps (L,), values (seeds, L)) of <quantity>_curve."""
    g, z = index(result, gamma, noise)
    t1 = int(result["decay_steps"][-1])
    steps = result["log_steps"]
    keep = steps <= t1
    return steps[keep], result[f"{quantity}_curve"][:, g, z, -1, keep]


def window_mean(steps: np.ndarray, values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mean over logged steps in [lo, hi) along the last axis."""
    mask = (steps >= lo) & (steps < hi)
    return values[..., mask].mean(-1)


# ----------------------------------------------------------------------------------------------------------------
# Why the minimum-norm interpolator generalizes: a Monte-Carlo check of the closed forms (lrd_model chapter)
# ----------------------------------------------------------------------------------------------------------------

MIN_NORM = "min-norm $w_{mn}$"
RANDOM_V = "$\\alpha_{mn} + v$, random $v \\in \\ker X$"
GD_FROM_W0 = "GD from $w_0$ at $\\gamma = 0$"
STUDY_SIZES = (1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 48)


@dataclass
class InterpolatorStudy:
    """Test losses of three interpolators over many teachers, and their closed-form expectations.

    `simulated`: one row per (n, draw, interpolator) with columns n, n/d, interpolator, test loss.
    `factor[name]`: E L = factor · ½(1 − n/d) for an isotropic teacher with E‖α*‖² = 1 (book's derivation):
    1 for w_mn, 2 for α_mn + v with a random v ∈ ker X (E‖v‖² = 1 − n/d), 1 + ‖w₀‖² for GD from w₀ at γ = 0.
    `table`: at the chapter's n, the simulated mean ± s.e. per interpolator against its closed form.
    """

    d: int
    n: int
    draws: int
    init_norm: float
    simulated: pd.DataFrame
    factor: dict[str, float]
    table: pd.DataFrame

    def closed_form(self, name: str, n: int) -> float:
        """Expected test loss of interpolator `name` at n samples (closed form)."""
        return self.factor[name] * toy.expected_min_norm_test_loss(n, self.d)


def interpolator_study(d: int, n: int, init_norm: float, draws: int = 1000,
                       sizes=STUDY_SIZES) -> InterpolatorStudy:
    """For each n in `sizes`, `draws` independent teachers and training sets (seeds 0 … draws − 1) at dimension d:
    the test loss of w_mn, of α_mn + v with a random v ∈ ker X (seeded by n), and of the point plain gradient
    descent reaches for γ = 0 from w₀ with ‖w₀‖ = init_norm (it keeps the ker X part of w₀). The table compares the
    simulated means at `n` (which must be among `sizes`) with the closed forms."""
    if n not in sizes:
        raise ValueError(f"n = {n} must be one of the simulated sizes {tuple(sizes)}")
    factor = {MIN_NORM: 1.0, RANDOM_V: 2.0, GD_FROM_W0: 1.0 + init_norm ** 2}
    rows = []
    for n_ in sizes:
        q = toy.make_problem(range(draws), n_, d)
        a_mn = q.alpha_mn()
        random_v = toy.sample_interpolators(q.X, q.y, 1, scale=1.0, generator=torch.Generator().manual_seed(n_))[:, 0]
        w0 = toy.initial_points(range(draws), d, init_norm)  # for γ = 0, φ(w) = w
        gd_from_w0 = a_mn + toy.project_kernel(q.X, w0.unsqueeze(1))[:, 0]
        for name, alpha in ((MIN_NORM, a_mn), (RANDOM_V, random_v), (GD_FROM_W0, gd_from_w0)):
            loss = 0.5 * (alpha - q.alpha_star).square().sum(-1).numpy()
            rows += [{"n": n_, "n/d": n_ / d, "interpolator": name, "test loss": v} for v in loss]
    simulated = pd.DataFrame(rows)
    at_n = simulated[simulated["n"] == n].groupby("interpolator", sort=False)["test loss"].agg(["mean", "sem"])
    table = pd.DataFrame({"interpolator": at_n.index, "simulated mean test loss": at_n["mean"].values,
                          "± s.e.": at_n["sem"].values,
                          "closed form": [factor[k] * toy.expected_min_norm_test_loss(n, d) for k in at_n.index]})
    table["distance from closed form, in s.e."] = ((table["simulated mean test loss"] - table["closed form"]).abs()
                                                  / table["± s.e."])
    return InterpolatorStudy(d, n, draws, float(init_norm), simulated, factor, table)
