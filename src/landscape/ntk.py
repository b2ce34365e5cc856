"""Empirical neural tangent kernel, traced over logits and divided by C (as in the authors' code):

    Θ(x, x′) = (1/C) Σ_k ∇_θ z_k(x) · ∇_θ z_k(x′).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from .models import evaluating
from .validation import ConfigError, require


def jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """∂z_k(x_a)/∂θ as a tensor of shape (n, C, number of parameters), with torch.func."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def logits(p, xa):
        return functional_call(model, p, (xa.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(logits), in_dims=(None, 0))(params, x)
    n, C = x.shape[0], next(iter(jac.values())).shape[1]
    return torch.cat([j.reshape(n, C, -1) for j in jac.values()], dim=2)


def ntk_from_jacobian(J: torch.Tensor) -> torch.Tensor:
    return torch.einsum("akp,bkp->ab", J, J) / J.shape[1]


def empirical_ntk(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Θ on the points x (a batch of n inputs), shape (n, n), of the model in eval mode (modes and buffers restored
    after, as for the Hessian). A closed form for ReLU MLPs (`mlp_ntk`), torch.func otherwise: any model whose
    forward maps a batch to logits (n, C) sample by sample and that torch.func can differentiate per sample (vmap of
    jacrev). Another model (outputs that are not one (n, C) tensor, recurrent layers torch.func cannot batch) is a
    ConfigError naming `model`."""
    require(isinstance(model, nn.Module), "model", "a torch.nn.Module", type(model).__name__)
    require(isinstance(x, torch.Tensor) and x.ndim >= 2, "inputs", "a tensor with a batch dimension, (n, ...)",
            tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__)
    with evaluating(model):
        if _is_relu_mlp(model):
            return mlp_ntk(model, x)
        with torch.no_grad():
            out = model(x[:1])
        require(isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[0] == 1, "model",
                "a model whose output is one tensor of logits (n, C)",
                f"{type(model).__name__} returning {tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
        try:
            J = jacobian(model, x)
        except (RuntimeError, NotImplementedError) as error:
            first = str(error).strip().splitlines()[0][:200]
            raise ConfigError(f"model={type(model).__name__} is not allowed: model must be one that torch.func can "
                              f"differentiate sample by sample (vmap of jacrev); it failed with: {first}") from None
        return ntk_from_jacobian(J)


def ntk_max_eigenvalue(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.eigvalsh(empirical_ntk(model, x))[-1]


def _is_relu_mlp(model: nn.Module) -> bool:
    """Linear, ReLU, Linear, …, Linear — the alternation `mlp_ntk` assumes."""
    return isinstance(model, nn.Sequential) and len(model) % 2 == 1 and all(
        isinstance(m, nn.Linear if i % 2 == 0 else nn.ReLU) for i, m in enumerate(model))


@torch.no_grad()
def mlp_ntk(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Θ for a Sequential of Linear and ReLU layers, without materializing the Jacobian (~6× faster on the spiral net).

    The gradient of logit k w.r.t. a Linear layer's weight is δ_k ⊗ a (back-propagated signal ⊗ layer input),
    so that layer adds Σ_k (δ_k δ_kᵀ) ∘ (a aᵀ + 1[bias]) to C·Θ.
    """
    inputs, masks, layers = [], [], []
    a = x
    for m in model:
        if isinstance(m, nn.Linear):
            inputs.append(a)
            layers.append(m)
            a = m(a)
        else:
            masks.append((a > 0).to(a.dtype))
            a = torch.relu(a)
    n, C = x.shape[0], a.shape[1]
    delta = torch.eye(C, dtype=x.dtype, device=x.device).expand(n, C, C)  # (n, C, out) at the output layer
    kernel = torch.zeros(n, n, dtype=x.dtype, device=x.device)
    for i in range(len(layers) - 1, -1, -1):
        layer, a_in = layers[i], inputs[i]
        gram = a_in @ a_in.T + (1.0 if layer.bias is not None else 0.0)
        kernel += torch.einsum("akw,bkw->ab", delta, delta) * gram
        if i > 0:
            delta = (delta @ layer.weight) * masks[i - 1].unsqueeze(1)
    return kernel / C
