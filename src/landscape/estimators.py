"""Algorithms on any symmetric linear operator: Lanczos with full reorthogonalization, stochastic Lanczos quadrature
(spectral density), Hutchinson's trace estimator.

An operator is a callable v ↦ A v on vectors (n,) — or, for E operators at once (`members=E`), on rows (E, n) —
with its size n; `curvature.HessianOperator` is one (it also carries `.size`, `.dtype`, `.device`, `.members`, and
`.matmat` for several vectors at once, which `hutchinson_trace` uses). Random vectors are drawn on the CPU from a
seeded generator in float64 (numbers that do not depend on the CPU's kernels) and then moved to the operator.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .validation import require, require_int


class LanczosBasis(NamedTuple):
    """T = tridiagonal(alpha, beta) of size m and the orthonormal basis Q (m × n); `residual` = ‖r_m‖, the norm of
    the next Lanczos vector before normalization (0 when the Krylov space is invariant), which bounds the Ritz
    values' errors. With members, each field has a leading member axis."""
    alpha: torch.Tensor
    beta: torch.Tensor
    basis: torch.Tensor
    residual: torch.Tensor


def gaussian(generator: torch.Generator, shape) -> torch.Tensor:
    """N(0, 1) draws in float64 on the CPU: the same numbers under every CPU kernel (torch's vectorized normal
    sampler differs between kernels only in float32; tested under ATen's scalar kernel)."""
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def rademacher(generator: torch.Generator, shape) -> torch.Tensor:
    """±1 with equal probability, float64 on the CPU."""
    return torch.randint(0, 2, shape, generator=generator, dtype=torch.float64) * 2 - 1


def _options(matvec, dtype, device, members):
    """dtype, device and members: as given, else the operator's own, else float64 on the default device, one."""
    return (dtype or getattr(matvec, "dtype", torch.float64), device or getattr(matvec, "device", None),
            members if members is not None else getattr(matvec, "members", None))


def lanczos(matvec, size: int, steps: int, *, members: int | None = None, dtype=None, device=None,
            seed: int = 0, start: torch.Tensor | None = None) -> LanczosBasis:
    """Lanczos with full reorthogonalization on a symmetric operator — or on E of them at once (members=E: matvec
    maps (E, n) → (E, n); an operator with `.members` sets it).

    Returns the tridiagonal T = tridiagonal(alpha, beta) of size m = min(steps, n), the orthonormal basis Q and the
    residual norm (`LanczosBasis`). The Ritz values eigvalsh(T) approximate the extreme eigenvalues; (eigenvectors
    of T)[0]² are the quadrature weights of stochastic Lanczos quadrature. The start vector is `start`, or drawn
    from N(0, 1) with `seed`. When a Krylov space becomes invariant (β ≈ 0), the next vector is a fresh random one
    orthogonal to the basis and β = 0 there: T splits into exact blocks, and the quadrature weights of the later
    blocks are 0.
    """
    require_int("steps", steps, at_least=1)
    dtype, device, members = _options(matvec, dtype, device, members)
    single = members is None
    E = 1 if single else members
    steps = min(steps, size)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    draw = lambda: gaussian(generator, (E, size)).to(device=device, dtype=dtype)
    q = draw() if start is None else start.reshape(E, size).to(device=device, dtype=dtype)
    q = q / q.norm(dim=1, keepdim=True)
    apply = (lambda v: matvec(v[0])[None]) if single else matvec
    Q = torch.zeros(E, steps, size, dtype=dtype, device=device)
    alpha = torch.zeros(E, steps, dtype=dtype, device=device)
    beta = torch.zeros(E, max(steps - 1, 0), dtype=dtype, device=device)
    b = torch.zeros(E, dtype=dtype, device=device)

    def orthogonalize(w, j):
        for _ in range(2):  # full reorthogonalization (twice is enough)
            w = w - torch.einsum("ejn,ej->en", Q[:, : j + 1], torch.einsum("ejn,en->ej", Q[:, : j + 1], w))
        return w

    for j in range(steps):
        Q[:, j] = q
        w = apply(q)
        a = (w * q).sum(1)
        w = w - a[:, None] * q
        if j > 0:
            w = w - b[:, None] * Q[:, j - 1]
        w = orthogonalize(w, j)
        alpha[:, j] = a
        b = w.norm(dim=1)
        if j + 1 < steps:
            stuck = b <= 1e-10 * alpha[:, : j + 1].abs().amax(1).clamp_min(1.0)
            if bool(stuck.any()):
                w = torch.where(stuck[:, None], orthogonalize(draw(), j), w)
                b = torch.where(stuck, torch.zeros_like(b), b)
            beta[:, j] = b
            q = w / w.norm(dim=1, keepdim=True)
    residual = b if steps < size else torch.zeros_like(b)  # a full Krylov space: T is H in the basis Q
    out = LanczosBasis(alpha, beta, Q, residual)
    return LanczosBasis(*(t[0] for t in out)) if single else out


def tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """tridiag(beta, alpha, beta); batched over leading axes."""
    return torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)


def ritz(basis: LanczosBasis, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest Ritz values of a Lanczos run, in decreasing order, and their residual bounds |β_m s_mi|
    (‖A y_i − θ_i y_i‖ for the Ritz vector y_i; an eigenvalue of A lies within it of θ_i): each (…, k)."""
    theta, S = torch.linalg.eigh(tridiagonal(basis.alpha, basis.beta))
    bound = (basis.residual[..., None] * S[..., -1, :]).abs()
    return theta.flip(-1)[..., :k].detach(), bound.flip(-1)[..., :k].detach()


# ------------------------------------------------------------------------ spectral density and trace estimators
def slq(matvec, size: int, vectors: int = 10, steps: int = 50, *, dtype=None, device=None, seed: int = 0,
        members: int | None = None):
    """Stochastic Lanczos quadrature (Ghorbani et al. 2019; Yao et al. 2020) on a symmetric operator.

    For each of `vectors` random Rademacher start vectors, `steps` Lanczos steps (full reorthogonalization) give the
    Ritz values (nodes) and the squared first components of their eigenvectors (weights): a quadrature rule for the
    spectral measure seen from that vector. Averaged over vectors, Σ weights·f(nodes) estimates (1/n) tr f(H).
    Returns (nodes, weights), each of shape (vectors, m), float64 on the CPU; rows of weights sum to 1. With
    members=E: (E, vectors, m), member e's own start vectors.
    """
    require_int("vectors", vectors, at_least=1)
    require_int("steps", steps, at_least=1)
    dtype, device, members = _options(matvec, dtype, device, members)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    lead = () if members is None else (members,)
    m = min(steps, size)
    nodes, weights = [], []
    for _ in range(vectors):
        v = rademacher(generator, lead + (size,))
        basis = lanczos(matvec, size, steps, dtype=dtype, device=device, start=v, members=members)
        theta, U = torch.linalg.eigh(tridiagonal(basis.alpha, basis.beta))
        node, weight = torch.zeros(lead + (m,), dtype=torch.float64), torch.zeros(lead + (m,), dtype=torch.float64)
        node[..., : theta.shape[-1]] = theta.double().cpu()
        weight[..., : theta.shape[-1]] = (U[..., 0, :] ** 2).double().cpu()
        nodes.append(node)
        weights.append(weight)
    return torch.stack(nodes, -2), torch.stack(weights, -2)


def spectral_density(nodes: torch.Tensor, weights: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """The SLQ quadrature smoothed with a Gaussian of width sigma, averaged over vectors: a density on `grid`."""
    kernel = torch.exp(-0.5 * ((grid[:, None, None] - nodes[None]) / sigma) ** 2) / (sigma * (2 * torch.pi) ** 0.5)
    return (kernel * weights[None]).sum(-1).mean(-1)


def exact_density(eigenvalues: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """The exact spectrum smoothed the same way (each eigenvalue with weight 1/n)."""
    kernel = torch.exp(-0.5 * ((grid[:, None] - eigenvalues[None]) / sigma) ** 2) / (sigma * (2 * torch.pi) ** 0.5)
    return kernel.mean(-1)


def hutchinson_trace(matvec, size: int, samples: int = 100, *, dtype=None, device=None, seed: int = 0,
                     matmat=None, block: int = 32, members: int | None = None):
    """Hutchinson's estimator tr H ≈ mean of vᵀHv over Rademacher v. Returns (estimate, standard error) as float64
    CPU tensors: shape () — or (E,) with members=E.

    samples ≥ 2 (a standard error needs two). Unlike PyHessian's `trace()`, every sample is kept (PyHessian stops
    early when an estimate is negative). With `matmat` (V ↦ H V for the columns of V; an operator's own `.matmat`
    is used when it has one) the same vectors are applied `block` at a time."""
    require_int("samples", samples, at_least=2)
    require_int("block", block, at_least=1)
    dtype, device, members = _options(matvec, dtype, device, members)
    if matmat is None and members is None:
        matmat = getattr(matvec, "matmat", None)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    lead = () if members is None else (members,)
    draw = lambda: rademacher(generator, lead + (size,)).to(device=device, dtype=dtype)
    values = []
    if matmat is None:
        for _ in range(samples):
            v = draw()
            values.append((v * matvec(v)).sum(-1).detach().double().cpu())
    else:
        require(members is None, "matmat", "None for members (rows are applied one vector at a time)", matmat)
        for first in range(0, samples, block):
            V = torch.stack([draw() for _ in range(min(block, samples - first))], 1)
            values += list((V * matmat(V)).sum(0).detach().double().cpu())
    values = torch.stack(values)
    return values.mean(0), values.std(0, correction=1) / samples ** 0.5
