"""The Hessian of a loss on data as one linear operator (`HessianOperator`), and the library's curvature functions.

`HessianOperator(model, loss_fn, data)` is H = ∇²_θ L for the data-set loss L(θ) of an nn.Module's trainable
parameters — or, for an ensemble (an object with `.params`, tensors with a leading member axis), of every member's
own loss at once: H is block-diagonal and vectors are rows (E, n). It is the only way the package builds a
Hessian: the training probes, the cycle's snapshots and the library API all go through it, and the algorithms of
`estimators` (Lanczos, stochastic Lanczos quadrature, Hutchinson) and `.dense()` (the exact Hessian) take it.

Every product evaluates the model in eval mode (no dropout draws; batch norm reads its running statistics) and
restores each module's mode and any buffer the forward pass changed: the Hessian is that of one deterministic
function, and a Hessian call never moves a model's state. Work is through autograd (finite differences are wrong
for ReLU nets). The library functions — `hessian_eigenvalues`, `hessian_trace`, `hessian_spectrum` — return a
NamedTuple of float64 CPU tensors: the estimate and how far it can be off (Lanczos residual bounds, the standard
error; the SLQ quadrature's nodes and weights), with a leading member axis for an ensemble.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .estimators import hutchinson_trace, lanczos, ritz, slq, spectral_density
from .flat import flatten, flatten_rows, unflatten, unflatten_rows
from .losses import probing
from .models import evaluating, trainable_parameters
from .validation import require, require_choice, require_int

METHODS = ("lanczos", "exact")


# ------------------------------------------------------------------------------------------------ the operator
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


class HessianOperator:
    """H = ∇²_θ L, L(θ) = Σ_b w_b · loss_fn(model(x_b), y_b) over the batches b of `data`, w_b = n_b / N for a loss
    that averages (reduction "mean", or a plain callable; N = Σ_b n_b) and 1 for reduction "sum".

    model: an nn.Module (its trainable parameters), or an ensemble — `.params`, tensors with a leading member axis
    E, and `model(x)` → outputs of every member — whose loss_fn returns the members' losses, shape (E,) (a member
    whose loss is not finite contributes 0). data: an (inputs, targets) pair — whose gradient graph is built once
    and kept for every product — or an iterable of such batches (a DataLoader), streamed: each product runs one
    forward and two backward passes per batch, in the memory of one batch. `HessianOperator(model, loss_fn, inputs,
    targets)` is the pair.

    `op(v)`, `op @ v`: H v for v (n,) — rows (E, n) for an ensemble; `op.matmat(V)`: H V for the columns of V (n, m)
    in one batched backward pass; `op.dense()`: the exact Hessian (n, n) — (E, n, n) —, small models only.
    """

    def __init__(self, model, loss_fn, data, targets=None):
        require(callable(loss_fn), "loss_fn", "a callable loss_fn(outputs, targets), e.g. an nn.Module", loss_fn)
        if targets is not None:
            data = (data, targets)
        if isinstance(model, nn.Module):
            self.members, params = None, trainable_parameters(model)
        else:
            require(hasattr(model, "params") and callable(model), "model",
                    "a torch.nn.Module, or an ensemble (`.params` with a leading member axis, callable)",
                    type(model).__name__)
            params = list(model.params)
            self.members = params[0].shape[0]
        self.model, self.loss_fn, self.params = model, loss_fn, params
        self.batches = as_batches(data)
        self.mean = _mean_weight(loss_fn)
        self.like = [p[0] for p in params] if self.members else params
        self.size = sum(t.numel() for t in self.like)
        self.dtype, self.device = params[0].dtype, params[0].device
        self._kept = None  # the gradient graph of a single (inputs, targets) pair

    @property
    def shape(self) -> tuple[int, int]:
        return self.size, self.size

    def _gradient(self, batch, weighted: bool):
        """(∇_θ of the batch's loss with its graph, n_b); the loss times n_b when `weighted`."""
        x, y = _batch_pair(batch, self.device)
        with evaluating(self.model), probing():
            losses = self.loss_fn(self.model(x), y)
        if self.members is None:
            require(isinstance(losses, torch.Tensor) and losses.ndim == 0, "loss_fn",
                    "a loss returning a scalar (reduction 'mean' or 'sum')", _shape(losses))
            loss = losses
        else:
            E = self.members
            require(isinstance(losses, torch.Tensor) and losses.shape == (E,), "loss_fn",
                    f"a function returning the {E} members' losses, shape ({E},)", _shape(losses))
            loss = torch.where(torch.isfinite(losses), losses, torch.zeros_like(losses)).sum()
        return torch.autograd.grad(loss * x.shape[0] if weighted else loss, self.params, create_graph=True), x.shape[0]

    def _apply(self, product):
        """Σ_b w_b product(∇_θ loss_b): one kept graph for a single pair, else one pass over the data."""
        if isinstance(self.batches, list) and len(self.batches) == 1:
            if self._kept is None:
                self._kept = self._gradient(self.batches[0], weighted=False)[0]
            return product(self._kept)
        total, count = None, 0
        for batch in self.batches:
            grads, n = self._gradient(batch, weighted=self.mean)
            out = product(grads)
            total, count = (out if total is None else total + out), count + n
        require(count > 0, "data", "at least one non-empty batch (a one-shot iterator is used up by one call)",
                "empty")
        return total / count if self.mean else total

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """H v for v (n,), or for rows (E, n) of an ensemble."""
        v = v.to(device=self.device, dtype=self.dtype)
        single = self.members is None
        vs = unflatten(v, self.params) if single else unflatten_rows(v, self.like)

        def product(grads):
            hv = torch.autograd.grad(grads, self.params, grad_outputs=vs, retain_graph=True)
            return (flatten(hv) if single else flatten_rows(hv)).detach()

        return self._apply(product)

    matvec = __call__

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H V for the columns of V (n, m), in one batched backward pass per batch (a single model's operator)."""
        require(self.members is None, "matmat", "a single model's operator (an ensemble's takes rows, op(V))",
                "an ensemble's")
        V = V.to(device=self.device, dtype=self.dtype)
        grad_outputs = unflatten_rows(V.T, self.params)

        def product(grads):
            hv = torch.autograd.grad(grads, self.params, grad_outputs=grad_outputs, retain_graph=True,
                                     is_grads_batched=True)
            return flatten_rows(hv).T.detach()

        return self._apply(product)

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v) if self.members is None and v.ndim == 2 else self(v)

    def dense(self, block: int = 64) -> torch.Tensor:
        """The exact Hessian, (n, n) — (E, n, n) for an ensemble — from `block` products at a time."""
        require_int("block", block, at_least=1)
        n = self.size
        eye = torch.eye(n, dtype=self.dtype, device=self.device)
        if self.members is None:
            return torch.cat([self.matmat(eye[:, i:i + block]) for i in range(0, n, block)], 1)
        return torch.stack([self(eye[i].expand(self.members, n)) for i in range(n)], -1)


def _shape(value):
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


# ------------------------------------------------------------------- library API: a model, a loss and its data
class Eigenvalues(NamedTuple):
    """The k largest Hessian eigenvalues, decreasing, (k,) — (E, k) for an ensemble — and for each its Lanczos
    residual ‖H y − λ y‖ (y its Ritz vector): some eigenvalue of H lies within it of λ — for a converged top value,
    λ_max itself; 0 when exact."""
    values: torch.Tensor
    residuals: torch.Tensor


class TraceEstimate(NamedTuple):
    """tr H and the standard error of the estimate (0 for the exact trace): shape () — (E,) for an ensemble."""
    value: torch.Tensor
    stderr: torch.Tensor


class Spectrum(NamedTuple):
    """Stochastic Lanczos quadrature of the Hessian spectrum: per start vector, Ritz values (nodes) and their
    weights (rows sum to 1), each of shape (vectors, steps). Σ weights·f(nodes), averaged, estimates (1/n) tr f(H)."""
    nodes: torch.Tensor
    weights: torch.Tensor

    def density(self, grid, sigma: float) -> torch.Tensor:
        """The spectral density on `grid`, each node smoothed by a Gaussian of width sigma (integrates to 1)."""
        require(sigma > 0, "sigma", "> 0", sigma)
        return spectral_density(self.nodes, self.weights, torch.as_tensor(grid, dtype=torch.float64), sigma)


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float64)


def hessian_eigenvalues(model, loss_fn, data, k: int = 1, *, method: str = "lanczos", lanczos_steps: int = 20,
                        seed: int = 0) -> Eigenvalues:
    """The k largest eigenvalues of the Hessian of the data-set loss (`HessianOperator`), in decreasing order.

    data: an (inputs, targets) pair or an iterable of batches (batches weighted by their size). method: "lanczos"
    (max(lanczos_steps, k) Hessian-vector products, full reorthogonalization, start vector from `seed`) or "exact"
    (dense Hessian; small models only). k ≤ the number of parameters.
    """
    require_choice("method", method, METHODS)
    require_int("k", k, at_least=1)
    require_int("lanczos_steps", lanczos_steps, at_least=1)
    op = HessianOperator(model, loss_fn, data)
    require(k <= op.size, "k", f"<= {op.size}, the number of trainable parameters", k)
    if method == "exact":
        values = _cpu(torch.linalg.eigvalsh(op.dense()).flip(-1)[..., :k])
        return Eigenvalues(values, torch.zeros_like(values))
    values, bounds = ritz(lanczos(op, op.size, max(lanczos_steps, k), seed=seed), k)
    return Eigenvalues(_cpu(values), _cpu(bounds))


def hessian_trace(model, loss_fn, data, *, samples: int = 100, method: str = "hutchinson",
                  seed: int = 0) -> TraceEstimate:
    """tr H of the data-set loss: Hutchinson's estimate from `samples` (≥ 2) Rademacher vectors with its standard
    error (method="hutchinson"), or the trace of the dense Hessian (method="exact")."""
    require_choice("method", method, ("hutchinson", "exact"))
    require_int("samples", samples, at_least=2)
    op = HessianOperator(model, loss_fn, data)
    if method == "exact":
        value = _cpu(torch.diagonal(op.dense(), dim1=-2, dim2=-1).sum(-1))
        return TraceEstimate(value, torch.zeros_like(value))
    return TraceEstimate(*hutchinson_trace(op, op.size, samples, seed=seed))


def hessian_spectrum(model, loss_fn, data, *, vectors: int = 10, steps: int = 50, seed: int = 0) -> Spectrum:
    """The spectral density of the Hessian of the data-set loss by stochastic Lanczos quadrature: `vectors`
    Rademacher start vectors × `steps` Lanczos steps (full reorthogonalization). See `Spectrum.density`."""
    require_int("vectors", vectors, at_least=1)
    require_int("steps", steps, at_least=1)
    op = HessianOperator(model, loss_fn, data)
    return Spectrum(*slq(op, op.size, vectors, steps, seed=seed))


@torch.no_grad()
def loss_along(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor,
               alphas) -> torch.Tensor:
    """criterion(model_{θ + α d}(x), y) for each α: the loss along a direction d in parameter space (θ restored;
    evaluated in eval mode, as the Hessian)."""
    params = trainable_parameters(model)
    start = [p.detach().clone() for p in params]
    d = unflatten(direction.to(start[0]), params)
    out = []
    try:
        with evaluating(model), probing():
            for a in alphas:
                for p, p0, di in zip(params, start, d):
                    p.copy_(p0 + float(a) * di)
                out.append(float(criterion(model(x), y)))
    finally:
        for p, p0 in zip(params, start):
            p.copy_(p0)
    return torch.tensor(out, dtype=torch.float64)
