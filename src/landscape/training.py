"""Full-batch gradient descent with probes on a schedule, divergence detection and resumable checkpoints.

At each step t = 0 … steps the trainer evaluates θ_t on the whole training set — the objective F(θ_t, t), the plain
cross-entropy L(θ_t), the training accuracy, and the probes due at t — then (for t < steps) takes the step
θ_{t+1} = θ_t − η ∇_θ F(θ_t, t). A non-finite objective stops the run and is recorded as `diverged_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .data import Dataset
from .losses import cross_entropy_per_sample
from .runtime import Checkpoint
from .validation import ConfigError, require, require_finite, require_int


@dataclass
class Probe:
    """A measurement `fn(model, step)` taken every `every` steps (and at the last step): a float for one network
    (`train_full_batch`), an array (E,) of per-member values for an ensemble (`ensemble.train_ensemble`)."""

    name: str
    every: int
    fn: Callable

    def __post_init__(self):
        require_int("every", self.every, at_least=1)
        require(callable(self.fn), "fn", "a callable fn(model, step)", self.fn)

    def due(self, step: int, last: int) -> bool:
        return step % self.every == 0 or step == last


@dataclass
class TrainingLog:
    objective: np.ndarray  # F(θ_t, t), t = 0 … steps (shorter if diverged)
    cross_entropy: np.ndarray  # L(θ_t)
    accuracy: np.ndarray  # training accuracy of θ_t
    probes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name → (steps, values)
    diverged_at: int | None = None


def require_distinct_names(probes) -> None:
    names = [p.name for p in probes]
    require(len(set(names)) == len(names), "probes", "probes with distinct names", names)


def check_model_fits(model, params: list[torch.Tensor], data: Dataset, logits_shape: tuple) -> None:
    """A clear error when the model and the data do not go together: dtype, device, input shape, classes.

    Runs the model once on one sample (no gradients); `logits_shape` is what that must return."""
    x, p = data.x, params[0]
    require(p.dtype == x.dtype, "data.x dtype", f"the model's dtype, {p.dtype}", x.dtype)
    require(p.device == x.device, "data.x device", f"the model's device, {str(p.device)!r}", str(x.device))
    try:
        with torch.no_grad():
            logits = model(x[:1])
    except RuntimeError:
        raise ConfigError(f"data.x sample shape={tuple(x.shape[1:])} is not allowed: data.x samples must fit the "
                          "model's input layer") from None
    require(tuple(logits.shape) == logits_shape, "data.num_classes",
            f"the model's number of outputs, {logits.shape[-1]}", data.num_classes)


def train_full_batch(model: nn.Module, data: Dataset, gamma: torch.Tensor | np.ndarray | None, lr: float, steps: int,
                     probes: list[Probe] = (), *, checkpoint: Checkpoint | None = None, progress: bool = False,
                     description: str = "training") -> TrainingLog:
    """Full-batch GD on the dynamical cross-entropy −(1/P) Σ_μ Γ_{y_μ}(t) log p_{y_μ}.

    gamma: Γ(t) for t = 0 … steps, shape (steps + 1, C); None for plain cross-entropy (Γ ≡ 1).
    """
    require_finite("lr", lr, positive=True)
    require_int("steps", steps, at_least=0)
    require_distinct_names(probes)
    params = [p for p in model.parameters() if p.requires_grad]
    require(len(params) > 0, "model", "a model with trainable parameters", type(model).__name__)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()  # no dropout draws or batch-norm updates in the check
    try:
        check_model_fits(model, params, data, (1, data.num_classes))
    finally:
        for m, training in modes:
            m.training = training
    x, y = data.x, data.y
    device = x.device
    if gamma is None:
        gamma = torch.ones(steps + 1, data.num_classes)
    gamma = torch.as_tensor(np.asarray(gamma), dtype=x.dtype, device=device)
    require(gamma.shape == (steps + 1, data.num_classes), "gamma",
            f"of shape (steps + 1, C) = ({steps + 1}, {data.num_classes})", tuple(gamma.shape))
    require(bool(torch.isfinite(gamma).all()), "gamma", "finite", "non-finite values")
    n = steps + 1
    objective = torch.full((n,), float("nan"), dtype=torch.float64, device=device)
    ce = torch.full((n,), float("nan"), dtype=torch.float64, device=device)
    correct = torch.zeros(n, dtype=torch.int64, device=device)
    probe_values = {p.name: {} for p in probes}
    start = 0
    state = checkpoint.load() if checkpoint else None
    if state is not None and state["objective"].shape == (n,):
        model.load_state_dict(state["model"])
        objective.copy_(state["objective"]), ce.copy_(state["cross_entropy"]), correct.copy_(state["correct"])
        probe_values = {k: dict(v) for k, v in state["probes"].items()}
        start = int(state["next_step"])
    diverged_at, checked = None, start
    check_every = 100  # steps between divergence checks when no probe is due (a check syncs the device)
    bar = tqdm(total=n, initial=start, desc=description, disable=not progress, mininterval=1.0, file=None)
    for t in range(start, n):
        logits = model(x)
        per_sample = cross_entropy_per_sample(logits, y)
        loss = (gamma[t][y] * per_sample).mean()
        objective[t] = loss.detach()
        ce[t] = per_sample.detach().mean()
        correct[t] = (logits.detach().argmax(1) == y).sum()
        due = [probe for probe in probes if probe.due(t, steps)]
        if due or t % check_every == 0 or t == steps:
            window = objective[checked: t + 1]
            if not torch.isfinite(window).all():
                diverged_at = checked + int((~torch.isfinite(window)).nonzero()[0])
                break
            checked = t + 1
        for probe in due:
            probe_values[probe.name][t] = float(probe.fn(model, t))
        if t < steps:
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                torch._foreach_add_(params, grads, alpha=-lr)
        if t % 100 == 0:
            bar.update(min(t + 1, n) - bar.n)
            if checkpoint is not None and checkpoint.due():
                checkpoint.save({"model": model.state_dict(), "objective": objective, "cross_entropy": ce,
                                 "correct": correct, "probes": probe_values, "next_step": t + 1})
    bar.update(n - bar.n if diverged_at is None else 0)
    bar.close()
    end = n if diverged_at is None else diverged_at
    return TrainingLog(
        objective=objective[:end].cpu().numpy(),
        cross_entropy=ce[:end].cpu().numpy(),
        accuracy=(correct[:end].cpu().numpy() / len(y)),
        probes={k: (np.array(sorted(s for s in v if s < end), dtype=np.int64),
                    np.array([v[s] for s in sorted(v) if s < end], dtype=np.float64)) for k, v in probe_values.items()},
        diverged_at=diverged_at,
    )
