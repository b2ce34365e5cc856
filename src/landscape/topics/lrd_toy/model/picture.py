"""2-D pictures of the toy model (d = 2, n = 1): losses on a grid, the valley of minima and its flattest points."""

from __future__ import annotations

import math

import numpy as np
import torch

from .core import flattest_radius, kernel_basis, phi_inv, test_loss, train_loss
from .problems import Problem
from ....validation import require, require_finite, require_int

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
