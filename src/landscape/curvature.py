"""Hessian probes of any loss `criterion(model(x), y)`: exact Hessian, Lanczos on Hessian-vector products,
a wrapper of PyHessian's power iteration, stochastic Lanczos quadrature and Hutchinson's trace.

All work on the model's own parameters through autograd (finite differences are wrong for ReLU nets).
The library API at the end (`hessian_eigenvalues`, `hessian_trace`, `hessian_spectrum`) takes a model, a loss and
data — an (inputs, targets) pair or any iterable of batches such as a DataLoader.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call

from .flat import flatten, flatten_rows, unflatten, unflatten_rows
from .validation import require, require_choice, require_int

METHODS = ("lanczos", "pyhessian", "exact")


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def exact_hessian(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The full Hessian ∇²_θ criterion(model(x), y), shape (n, n) with n = number of parameters."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = [p.detach() for p in _params(model)]

    def loss_of(flat):
        return criterion(functional_call(model, dict(zip(names, unflatten(flat, params))), (x,)), y)

    return torch.func.jacrev(torch.func.jacrev(loss_of))(flatten(params))  # reverse-over-reverse: no forward-mode AD


class HessianVectorProduct:
    """v ↦ H v for H = ∇²_θ loss at the current parameters θ = `params` (the gradient's graph is built once).

    members=False: vectors are (n,). members=True: every tensor in `params` has a leading member axis and `loss` is
    the sum of the members' own losses, so H is block-diagonal and rows (E, n) give each member's own product."""

    def __init__(self, loss: torch.Tensor, params: list[torch.Tensor], *, members: bool = False):
        self.params, self.members = params, params[0].shape[0] if members else None
        self.like = [p[0] for p in params] if members else params
        self.grads = torch.autograd.grad(loss, params, create_graph=True)
        self.size = sum(t.numel() for t in self.like)
        self.dtype, self.device = params[0].dtype, params[0].device

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        single = self.members is None
        vs = unflatten(v, self.params) if single else unflatten_rows(v, self.like)
        hv = torch.autograd.grad(self.grads, self.params, grad_outputs=vs, retain_graph=True)
        return (flatten(hv) if single else flatten_rows(hv)).detach()

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H V for the columns of V (n, m), in one batched backward pass (members=False)."""
        require(self.members is None, "matmat", "a single model's operator (members=False)", "an ensemble's")
        hv = torch.autograd.grad(self.grads, self.params, grad_outputs=unflatten_rows(V.T, self.params),
                                 retain_graph=True, is_grads_batched=True)
        return flatten_rows(hv).T.detach()


def HessianOperator(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor) -> HessianVectorProduct:
    """v ↦ H v for H = ∇²_θ criterion(model(x), y) at the model's current parameters."""
    return HessianVectorProduct(criterion(model(x), y), _params(model))


def lanczos(matvec, size: int, steps: int, *, members: int | None = None, dtype=torch.float64, device=None,
            seed: int = 0, start: torch.Tensor | None = None):
    """Lanczos with full reorthogonalization on a symmetric operator — or on E of them at once (members=E: matvec
    maps (E, n) → (E, n)).

    Returns (alpha, beta, Q): T = tridiagonal(alpha, beta) of size m = min(steps, n), and the orthonormal basis Q
    (m × n); with members, each has a leading member axis. The Ritz values eigvalsh(T) approximate the extreme
    eigenvalues; (eigenvectors of T)[0]² are the quadrature weights of stochastic Lanczos quadrature. When a Krylov
    space becomes invariant (β ≈ 0), the next vector is a fresh random one orthogonal to the basis and β = 0 there:
    T splits into exact blocks, and the quadrature weights of the later blocks are 0.
    """
    require_int("steps", steps, at_least=1)
    single = members is None
    E = 1 if single else members
    steps = min(steps, size)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    draw = lambda: torch.randn(E, size, generator=generator, dtype=torch.float64).to(device=device, dtype=dtype)
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
        if j + 1 < steps:
            b = w.norm(dim=1)
            stuck = b <= 1e-10 * alpha[:, : j + 1].abs().amax(1).clamp_min(1.0)
            if bool(stuck.any()):
                w = torch.where(stuck[:, None], orthogonalize(draw(), j), w)
                b = torch.where(stuck, torch.zeros_like(b), b)
            beta[:, j] = b
            q = w / w.norm(dim=1, keepdim=True)
    return (alpha[0], beta[0], Q[0]) if single else (alpha, beta, Q)


def tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """tridiag(beta, alpha, beta); batched over leading axes."""
    return torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)


def top_eigenvalues(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor, k: int = 1,
                    method: str = "lanczos", lanczos_steps: int = 20, seed: int = 0) -> torch.Tensor:
    """The k largest Hessian eigenvalues of criterion(model(x), y), in decreasing order.

    method: "lanczos" (full reorthogonalization, `lanczos_steps` HVPs; what the training probes use, as the authors'
    10-step Lanczos did), "pyhessian" (PyHessian's power iteration, wrapped), or "exact" (dense Hessian; small
    models only).
    """
    require_choice("method", method, METHODS)
    if method == "pyhessian":
        require_int("k", k, at_least=1)
        return pyhessian_top_eigenvalues(model, criterion, x, y, k=k, seed=seed)
    return hessian_eigenvalues(model, criterion, (x, y), k, method=method, lanczos_steps=lanczos_steps, seed=seed)


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


def hutchinson_trace(matvec, size: int, samples: int = 100, *, dtype=torch.float64, device=None, seed: int = 0,
                     matmat=None, block: int = 32):
    """Hutchinson's estimator tr H ≈ mean of vᵀHv over Rademacher v. Returns (estimate, standard error).

    Unlike PyHessian's `trace()`, every sample is kept (PyHessian stops early when an estimate is negative).
    With `matmat` (V ↦ H V for the columns of V) the same vectors are applied `block` at a time."""
    require_int("samples", samples, at_least=1)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    draw = lambda: (torch.randint(0, 2, (size,), generator=generator, dtype=torch.float64) * 2 - 1).to(
        device=device, dtype=dtype)
    values = []
    if matmat is None:
        for _ in range(samples):
            v = draw()
            values.append(float(torch.dot(v, matvec(v))))
    else:
        require_int("block", block, at_least=1)
        for start in range(0, samples, block):
            V = torch.stack([draw() for _ in range(min(block, samples - start))], 1)
            values += (V * matmat(V)).sum(0).tolist()
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


# ------------------------------------------------------------------- library API: a model, a loss and its data
def as_batches(data):
    """An (inputs, targets) pair → [(inputs, targets)]; any other iterable of (inputs, targets) batches as it is
    (a DataLoader is read once per Hessian-vector product; a one-shot iterator is read into a list first)."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, torch.Tensor) for d in data):
        return [tuple(data)]
    require(hasattr(data, "__iter__"), "data", "an (inputs, targets) pair or an iterable of such batches",
            type(data).__name__)
    return list(data) if iter(data) is data else data


def _mean_weight(loss_fn) -> bool:
    """Whether loss_fn averages over its batch (reduction "mean", or a plain callable) rather than summing."""
    reduction = getattr(loss_fn, "reduction", "mean")
    require_choice("loss_fn.reduction", reduction, ("mean", "sum"))
    return reduction == "mean"


def _batch_pair(batch, device):
    require(isinstance(batch, (tuple, list)) and len(batch) == 2, "data",
            "an (inputs, targets) pair or an iterable of (inputs, targets) batches", type(batch).__name__)
    x, y = batch
    return x.to(device), y.to(device)


class DataHessianOperator:
    """v ↦ H v, H = ∇²_θ L for the data-set loss L(θ) = (1/N) Σ_b n_b · loss_fn(model(x_b), y_b), n_b the size of
    batch b and N = Σ_b n_b (the sum Σ_b loss_fn(...) when loss_fn has reduction="sum").

    Batches are streamed: each product (or `matmat` of several vectors at once) runs a forward and two backward
    passes per batch, in the memory of one batch. For one (inputs, targets) pair `HessianOperator` keeps the graph.
    """

    def __init__(self, model: nn.Module, loss_fn, data):
        self.model, self.loss_fn, self.data = model, loss_fn, as_batches(data)
        self.mean = _mean_weight(loss_fn)
        self.params = _params(model)
        self.size = sum(p.numel() for p in self.params)
        self.dtype, self.device = self.params[0].dtype, self.params[0].device

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v[:, None])[:, 0]

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H V for the columns of V (n, m): one pass over the data, one batched backward per batch."""
        V = V.to(device=self.device, dtype=self.dtype)
        out, count = torch.zeros_like(V), 0
        for batch in self.data:
            x, y = _batch_pair(batch, self.device)
            n = x.shape[0]
            loss = self.loss_fn(self.model(x), y)
            out += HessianVectorProduct(loss * n if self.mean else loss, self.params).matmat(V)
            count += n
        require(count > 0, "data", "at least one non-empty batch (a one-shot iterator is used up by one call)",
                "empty")
        return out / count if self.mean else out


def hessian_operator(model: nn.Module, loss_fn, data):
    """The Hessian of the data-set loss as a matvec v ↦ H v (with .matmat, .size, .dtype, .device): `HessianOperator`
    for one (inputs, targets) pair (graph kept), `DataHessianOperator` for an iterable of batches (streamed)."""
    require(isinstance(model, nn.Module), "model", "a torch.nn.Module", type(model).__name__)
    require(callable(loss_fn), "loss_fn", "a callable loss_fn(outputs, targets), e.g. an nn.Module", loss_fn)
    batches = as_batches(data)
    if isinstance(batches, list) and len(batches) == 1:
        _mean_weight(loss_fn)
        x, y = _batch_pair(batches[0], next(model.parameters()).device)
        return HessianOperator(model, loss_fn, x, y)  # one batch: weight n/N = 1
    return DataHessianOperator(model, loss_fn, batches)


def data_exact_hessian(model: nn.Module, loss_fn, data) -> torch.Tensor:
    """The dense Hessian of the data-set loss (small models only): Σ_b (n_b/N) ∇²_θ loss_fn(model(x_b), y_b)."""
    mean, device = _mean_weight(loss_fn), next(model.parameters()).device
    total, count = None, 0
    for batch in as_batches(data):
        x, y = _batch_pair(batch, device)
        H = exact_hessian(model, loss_fn, x, y) * (x.shape[0] if mean else 1)
        total, count = (H if total is None else total + H), count + x.shape[0]
    require(count > 0, "data", "at least one non-empty batch (a one-shot iterator is used up by one call)",
            "empty")
    return total / count if mean else total


LIBRARY_METHODS = ("lanczos", "exact")


def hessian_eigenvalues(model: nn.Module, loss_fn, data, k: int = 1, *, method: str = "lanczos",
                        lanczos_steps: int = 20, seed: int = 0) -> torch.Tensor:
    """The k largest eigenvalues of the Hessian of the data-set mean loss, in decreasing order, shape (k,).

    data: an (inputs, targets) pair or an iterable of batches (batches weighted by their size). method: "lanczos"
    (max(lanczos_steps, k) Hessian-vector products, full reorthogonalization) or "exact" (dense Hessian).
    """
    require_choice("method", method, LIBRARY_METHODS)
    require_int("k", k, at_least=1)
    if method == "exact":
        return torch.linalg.eigvalsh(data_exact_hessian(model, loss_fn, data)).flip(0)[:k]
    op = hessian_operator(model, loss_fn, data)
    alpha, beta, _ = lanczos(op, op.size, max(lanczos_steps, k), dtype=op.dtype, device=op.device, seed=seed)
    return torch.linalg.eigvalsh(tridiagonal(alpha, beta)).flip(0)[:k].detach()


class TraceEstimate(NamedTuple):
    """tr H and the standard error of the estimate (0 for the exact trace)."""
    value: float
    stderr: float


def hessian_trace(model: nn.Module, loss_fn, data, *, samples: int = 100, method: str = "hutchinson",
                  seed: int = 0) -> TraceEstimate:
    """tr H of the data-set mean loss: Hutchinson's estimate from `samples` Rademacher vectors with its standard
    error (method="hutchinson"), or the trace of the dense Hessian (method="exact")."""
    require_choice("method", method, ("hutchinson", "exact"))
    if method == "exact":
        return TraceEstimate(float(torch.diagonal(data_exact_hessian(model, loss_fn, data)).sum()), 0.0)
    op = hessian_operator(model, loss_fn, data)
    return TraceEstimate(*hutchinson_trace(op, op.size, samples, dtype=op.dtype, device=op.device, seed=seed,
                                           matmat=op.matmat))


class Spectrum(NamedTuple):
    """Stochastic Lanczos quadrature of the Hessian spectrum: per start vector, Ritz values (nodes) and their
    weights (rows sum to 1), each of shape (vectors, steps). Σ weights·f(nodes), averaged, estimates (1/n) tr f(H)."""
    nodes: torch.Tensor
    weights: torch.Tensor

    def density(self, grid, sigma: float) -> torch.Tensor:
        """The spectral density on `grid`, each node smoothed by a Gaussian of width sigma (integrates to 1)."""
        require(sigma > 0, "sigma", "> 0", sigma)
        return spectral_density(self.nodes, self.weights, torch.as_tensor(grid, dtype=torch.float64), sigma)


def hessian_spectrum(model: nn.Module, loss_fn, data, *, vectors: int = 10, steps: int = 50,
                     seed: int = 0) -> Spectrum:
    """The spectral density of the Hessian of the data-set mean loss by stochastic Lanczos quadrature: `vectors`
    Rademacher start vectors × `steps` Lanczos steps (full reorthogonalization). See `Spectrum.density`."""
    op = hessian_operator(model, loss_fn, data)
    return Spectrum(*slq(op, op.size, vectors, steps, dtype=op.dtype, device=op.device, seed=seed))
