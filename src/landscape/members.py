"""The members a training loop updates: E same-shaped networks as one `EnsembleModel` (parameters with a leading
member axis, logits (E, P, C)), one nn.Module as an ensemble of one (`ModuleEnsemble`), and what the loop asks of
them — their losses and gradients (`per_member_losses`), a fit check against the data, predictions, evaluation."""

from __future__ import annotations

import torch
from torch import nn

from .data import Dataset
from .losses import per_member_losses
from .models import evaluating, trainable_parameters
from .validation import ConfigError, require, require_int


class EnsembleModel:
    """E same-shaped networks trained together. `params` is a list of tensors whose first axis is the member;
    `forward(x)` returns logits of shape (E, P, C) for inputs x (P, …) shared by all members."""

    params: list[torch.Tensor]

    @property
    def size(self) -> int:
        return self.params[0].shape[0]

    def forward(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        return self.forward(x, params)

    def loss_and_grad(self, x: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor, loss: str):
        """(objective (E,), static loss (E,), logits (E, P, C), gradients of each member's objective).

        Autograd through the sum of the members' objectives; a member whose objective is not finite contributes
        nothing to the sum (so no NaN reaches the others)."""
        logits = self.forward(x)
        obj, stat = per_member_losses(loss, logits, y, gamma)
        total = torch.where(torch.isfinite(obj), obj, torch.zeros_like(obj)).sum()
        grads = torch.autograd.grad(total, self.params)
        return obj.detach(), stat.detach(), logits.detach(), grads

    def state(self):
        return [p.detach().clone() for p in self.params]

    def load_state(self, state) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, state):
                p.copy_(s)

    def probe_target(self):
        """What probes receive as `model`."""
        return self


class ModuleEnsemble(EnsembleModel):
    """One `nn.Module` as an ensemble of one: logits (1, P, C), its own parameters (no member axis) updated in
    place; its objective is any of LOSSES, by `per_member_losses` as for every ensemble."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.params = trainable_parameters(module)

    @property
    def size(self) -> int:
        return 1

    def forward(self, x, params=None):
        require(params is None, "params", "None (a ModuleEnsemble evaluates its module's own parameters)", "given")
        return self.module(x).unsqueeze(0)

    def state(self):
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def load_state(self, state) -> None:
        self.module.load_state_dict(state)

    def probe_target(self):
        return self.module


def check_model_fits(model, params: list[torch.Tensor], data: Dataset, logits_shape: tuple) -> None:
    """A clear error when the model and the data do not go together: dtype, device, input shape, classes.

    Runs the model once on one sample (no gradients; nn.Modules in eval mode, their modes restored after);
    `logits_shape` is what that must return."""
    x, p = data.x, params[0]
    require(p.dtype == x.dtype, "data.x dtype", f"the model's dtype, {p.dtype}", x.dtype)
    require(p.device == x.device, "data.x device", f"the model's device, {str(p.device)!r}", str(x.device))
    module = model.module if isinstance(model, ModuleEnsemble) else model
    try:
        with evaluating(module), torch.no_grad():  # no dropout draws or batch-norm updates in the check
            logits = model(x[:1])
    except RuntimeError:
        raise ConfigError(f"data.x sample shape={tuple(x.shape[1:])} is not allowed: data.x samples must fit the "
                          "model's input layer") from None
    require(tuple(logits.shape) == logits_shape, "data.num_classes",
            f"the model's number of outputs, {logits.shape[-1]}", data.num_classes)


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """argmax over classes of (E, P, C) logits (first index on ties, as `Tensor.argmax`). A contiguous copy first:
    argmax over a strided axis of few classes is ~20× slower on a CPU than the copy."""
    return logits.contiguous().argmax(-1)


@torch.no_grad()
def evaluate(model: EnsembleModel, data: Dataset, loss: str = "dce", batch: int = 8192):
    """Static loss and accuracy of every member on `data`: two (E,) tensors."""
    require_int("batch", batch, at_least=1)
    E = model.size
    total = torch.zeros(E, dtype=torch.float64, device=data.x.device)
    correct = torch.zeros(E, dtype=torch.float64, device=data.x.device)
    ones = torch.ones(E, data.num_classes, dtype=data.x.dtype, device=data.x.device)
    for i in range(0, len(data), batch):
        x, y = data.x[i:i + batch], data.y[i:i + batch]
        z = model(x)
        _, static = per_member_losses(loss, z, y, ones)
        total += static.to(torch.float64) * len(y)
        correct += (predictions(z) == y).sum(-1).to(torch.float64)
    return total / len(data), correct / len(data)


def _describe_set(data) -> str:
    if not isinstance(data, Dataset):
        return type(data).__name__
    return f"{data.num_classes} classes, samples of shape {tuple(data.x.shape[1:])}, {data.x.dtype}, on {data.x.device}"
