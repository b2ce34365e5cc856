"""PyHessian (Yao et al. 2020) as the outside reference the package's curvature tools are checked against — in the
tests only: the library does not depend on it.

Its PyPI release changes things behind the caller's back; `pyhessian_top_eigenvalues` undoes them: it switches the
model to eval mode, leaves a graph in every `.grad`, draws start vectors from torch's global RNG in the default
dtype, and warns about `backward(create_graph=True)`.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn


@contextlib.contextmanager
def _pyhessian_guard(model: nn.Module, seed: int):
    was_training = model.training
    saved_grads = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    dtype = next(model.parameters()).dtype
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


def pyhessian_top_eigenvalues(model: nn.Module, criterion, x: torch.Tensor, y: torch.Tensor, k: int = 1,
                              max_iter: int = 1000, tol: float = 1e-8, seed: int = 0) -> torch.Tensor:
    """PyHessian's `hessian(...).eigenvalues()` (power iteration with deflation), with its side effects undone."""
    from pyhessian import hessian as PyHessian

    with _pyhessian_guard(model, seed):
        h = PyHessian(model, criterion, data=(x, y), cuda=x.is_cuda)
        values, _ = h.eigenvalues(maxIter=max_iter, tol=tol, top_n=k)
        del h
    return torch.tensor(values, dtype=torch.float64)
