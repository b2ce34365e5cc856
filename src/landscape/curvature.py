"""Hessian probes of any loss `criterion(model(x), y)`: exact Hessian, Lanczos on Hessian-vector products,
and a wrapper of PyHessian's power iteration.

All work on the model's own parameters through autograd (finite differences are wrong for ReLU nets).
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn
from torch.func import functional_call

from .validation import require_choice, require_int

METHODS = ("lanczos", "pyhessian", "exact")


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def flatten(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, like) -> list[torch.Tensor]:
    out, i = [], 0
    for t in like:
        out.append(vector[i:i + t.numel()].view_as(t))
        i += t.numel()
    return out


def exact_hessian(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The full Hessian ∇²_θ criterion(model(x), y), shape (n, n) with n = number of parameters."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = [p.detach() for p in _params(model)]

    def loss_of(flat):
        return criterion(functional_call(model, dict(zip(names, unflatten(flat, params))), (x,)), y)

    return torch.func.jacrev(torch.func.jacrev(loss_of))(flatten(params))  # reverse-over-reverse: no forward-mode AD


class HessianOperator:
    """v ↦ H v for H = ∇²_θ criterion(model(x), y) at the model's current parameters (the graph is built once)."""

    def __init__(self, model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor):
        self.params = _params(model)
        loss = criterion(model(x), y)
        self.grads = torch.autograd.grad(loss, self.params, create_graph=True)
        self.size = sum(p.numel() for p in self.params)
        self.dtype, self.device = self.params[0].dtype, self.params[0].device

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(self.grads, self.params, grad_outputs=unflatten(v, self.params), retain_graph=True)
        return flatten(hv).detach()


def lanczos(matvec, size: int, steps: int, *, dtype=torch.float64, device=None, seed: int = 0,
            start: torch.Tensor | None = None):
    """Lanczos with full reorthogonalization on a symmetric operator.

    Returns (alpha, beta, Q): the tridiagonal T = tridiag(beta, alpha, beta) (m = len(alpha) ≤ steps, shorter if an
    invariant subspace is found) and the orthonormal basis Q (m × size). The Ritz values eigvalsh(T) approximate
    the extreme eigenvalues; (eigvecs of T)[0]² are the quadrature weights used by stochastic Lanczos quadrature.
    """
    require_int("steps", steps, at_least=1)
    steps = min(steps, size)
    if start is None:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        start = torch.randn(size, generator=generator, dtype=torch.float64)
    q = (start / start.norm()).to(device=device, dtype=dtype)
    Q = torch.zeros(steps, size, dtype=dtype, device=device)
    alpha, beta = [], []
    b = torch.zeros((), dtype=dtype, device=device)
    for j in range(steps):
        Q[j] = q
        w = matvec(q)
        a = torch.dot(w, q)
        w = w - a * q - (b * Q[j - 1] if j > 0 else 0)
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)  # full reorthogonalization (twice is enough)
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        alpha.append(a)
        b = w.norm()
        if j + 1 < steps:
            if b <= 1e-10 * abs(a).clamp_min(1.0):
                break
            beta.append(b)
            q = w / b
    m = len(alpha)
    return torch.stack(alpha), (torch.stack(beta) if beta else torch.zeros(0, dtype=dtype, device=device)), Q[:m]


def tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    return torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)


def top_eigenvalues(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor, k: int = 1,
                    method: str = "lanczos", lanczos_steps: int = 20, seed: int = 0) -> torch.Tensor:
    """The k largest Hessian eigenvalues of criterion(model(x), y), in decreasing order.

    method: "lanczos" (full reorthogonalization, `lanczos_steps` HVPs; what the training probes use, as the authors'
    10-step Lanczos did), "pyhessian" (PyHessian's power iteration, wrapped), or "exact" (dense Hessian; small
    models only).
    """
    require_choice("method", method, METHODS)
    require_int("k", k, at_least=1)
    if method == "exact":
        return torch.linalg.eigvalsh(exact_hessian(model, criterion, x, y)).flip(0)[:k]
    if method == "pyhessian":
        return pyhessian_top_eigenvalues(model, criterion, x, y, k=k, seed=seed)
    op = HessianOperator(model, criterion, x, y)
    alpha, beta, _ = lanczos(op, op.size, max(lanczos_steps, k), dtype=op.dtype, device=op.device, seed=seed)
    return torch.linalg.eigvalsh(tridiagonal(alpha, beta)).flip(0)[:k].detach()


@contextlib.contextmanager
def _pyhessian_guard(model: nn.Module, seed: int):
    """What PyHessian changes behind the caller's back, undone: it switches the model to eval mode, leaves a graph
    in every `.grad`, draws start vectors from torch's global RNG in the default dtype, and warns about
    `backward(create_graph=True)`."""
    was_training = model.training
    saved_grads = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    dtype = model_dtype(model)
    previous_default = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        torch.set_default_dtype(dtype)
        try:
            yield
        finally:
            torch.set_default_dtype(previous_default)
            model.train(was_training)
            for p, g in zip(model.parameters(), saved_grads):
                p.grad = g


def model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def pyhessian_top_eigenvalues(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor, k: int = 1,
                              max_iter: int = 1000, tol: float = 1e-8, seed: int = 0) -> torch.Tensor:
    """PyHessian's `hessian(...).eigenvalues()` (power iteration with deflation), with its side effects undone."""
    from pyhessian import hessian as PyHessian

    with _pyhessian_guard(model, seed):
        h = PyHessian(model, criterion, data=(x, y), cuda=x.is_cuda)
        values, _ = h.eigenvalues(maxIter=max_iter, tol=tol, top_n=k)
        del h
    return torch.tensor(values, dtype=torch.float64)


# ------------------------------------------------------------------------ spectral density and trace estimators
def slq(matvec, size: int, vectors: int = 10, steps: int = 50, *, dtype=torch.float64, device=None, seed: int = 0):
    """Stochastic Lanczos quadrature (Ghorbani et al. 2019; Yao et al. 2020) on a symmetric operator.

    For each of `vectors` random Rademacher start vectors, `steps` Lanczos steps (full reorthogonalization) give the
    Ritz values (nodes) and the squared first components of their eigenvectors (weights): a quadrature rule for the
    spectral measure seen from that vector. Averaged over vectors, Σ weights·f(nodes) estimates (1/n) tr f(H).
    Returns (nodes, weights), each of shape (vectors, m); rows of weights sum to 1.
    """
    require_int("vectors", vectors, at_least=1)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    nodes, weights = [], []
    for _ in range(vectors):
        v = torch.randint(0, 2, (size,), generator=generator, dtype=torch.float64) * 2 - 1
        alpha, beta, _ = lanczos(matvec, size, steps, dtype=dtype, device=device, start=v)
        theta, U = torch.linalg.eigh(tridiagonal(alpha, beta))
        m = min(steps, size)
        node, weight = torch.zeros(m, dtype=torch.float64), torch.zeros(m, dtype=torch.float64)
        node[: len(theta)], weight[: len(theta)] = theta.double().cpu(), (U[0] ** 2).double().cpu()
        nodes.append(node)
        weights.append(weight)
    return torch.stack(nodes), torch.stack(weights)


def spectral_density(nodes: torch.Tensor, weights: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """The SLQ quadrature smoothed with a Gaussian of width sigma, averaged over vectors: a density on `grid`."""
    kernel = torch.exp(-0.5 * ((grid[:, None, None] - nodes[None]) / sigma) ** 2) / (sigma * (2 * torch.pi) ** 0.5)
    return (kernel * weights[None]).sum(-1).mean(-1)


def exact_density(eigenvalues: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """The exact spectrum smoothed the same way (each eigenvalue with weight 1/n)."""
    kernel = torch.exp(-0.5 * ((grid[:, None] - eigenvalues[None]) / sigma) ** 2) / (sigma * (2 * torch.pi) ** 0.5)
    return kernel.mean(-1)


def hutchinson_trace(matvec, size: int, samples: int = 100, *, dtype=torch.float64, device=None, seed: int = 0):
    """Hutchinson's estimator tr H ≈ mean of vᵀHv over Rademacher v. Returns (estimate, standard error).

    Unlike PyHessian's `trace()`, every sample is kept (PyHessian stops early when an estimate is negative)."""
    require_int("samples", samples, at_least=1)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    values = []
    for _ in range(samples):
        v = (torch.randint(0, 2, (size,), generator=generator, dtype=torch.float64) * 2 - 1).to(device=device,
                                                                                              dtype=dtype)
        values.append(float(torch.dot(v, matvec(v))))
    values = torch.tensor(values, dtype=torch.float64)
    stderr = float(values.std(unbiased=True) / samples ** 0.5) if samples > 1 else float("nan")
    return float(values.mean()), stderr


@torch.no_grad()
def loss_along(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor,
               alphas) -> torch.Tensor:
    """criterion(model_{θ + α d}(x), y) for each α: the loss along a direction d in parameter space (θ restored)."""
    params = _params(model)
    start = [p.detach().clone() for p in params]
    d = unflatten(direction.to(start[0]), params)
    out = []
    try:
        for a in alphas:
            for p, p0, di in zip(params, start, d):
                p.copy_(p0 + float(a) * di)
            out.append(float(criterion(model(x), y)))
    finally:
        for p, p0 in zip(params, start):
            p.copy_(p0)
    return torch.tensor(out, dtype=torch.float64)
