"""The toy model's φ, losses, minimum-norm solution and closed-form curvature (traces of ∇²L̂, the radii of M)."""

from __future__ import annotations

import math

import torch

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
# Curvature in closed form (traces of ∇²L̂ and the radii of the minima manifold M)
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


def full_trace(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, exponent) -> torch.Tensor:
    """tr ∇²L̂(w), the exact trace of the toy's training-loss Hessian in closed form, at any w ≠ 0, shape (S, M)
    (book's derivation, tested against autograd): the Gauss–Newton trace + the residual part
    (γ(d + γ)/n) r^{γ−2} Σ_i (x_iᵀφ(w) − y_i)(x_iᵀw), because tr ∇²(x_iᵀφ(w)) = γ(d + γ) r^{γ−2} x_iᵀw.
    (Not `landscape.curvature.hessian_trace`, the library's estimator for a network.)"""
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
