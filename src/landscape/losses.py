"""Losses: cross-entropy and the dynamical loss of Ruiz-Garcia et al. (ICML 2021).

The dynamical cross-entropy at full-batch step t is

    F(θ, t) = −(1/P) Σ_μ Γ_{y_μ}(t) · log softmax(z(x_μ))_{y_μ},

with class weights Γ_i(t) = C · w_i(t) / Σ_j w_j(t), so that Σ_i Γ_i = C at every step. One class c is
emphasized at a time: its raw weight w_c follows a triangle wave over a local clock τ ∈ [0, T] (1 at both
ends, the amplitude A in the middle); all other classes have w = 1. As in the authors' code, τ increments
after each step and resets to 0 when τ > T, moving the emphasis to the next class, so each class is
emphasized for T + 1 steps and class 0 comes first. A = 1 gives Γ ≡ 1, i.e. plain cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .validation import require, require_choice, require_finite, require_int


@dataclass(frozen=True)
class GammaSchedule:
    """Γ_i(t) of the dynamical loss.

    num_classes: C (≥ 2). amplitude: A (≥ 1; A = 1 is plain CE). period: T in full-batch steps (≥ 1).
    total_steps / final_plain_ce: when both are given, the emphasis stops (A → 1) from the first period start
    s ≥ total_steps − T onward, as in the authors' Fig. 4 notebook ("the last period is plain CE").
    """

    num_classes: int
    amplitude: float
    period: int
    total_steps: int | None = None
    final_plain_ce: bool = False

    def __post_init__(self):
        require_int("num_classes", self.num_classes, at_least=2)
        require_finite("amplitude", self.amplitude)
        require(self.amplitude >= 1, "amplitude", ">= 1 (A = 1 is plain cross-entropy)", self.amplitude)
        require_int("period", self.period, at_least=1)
        if self.final_plain_ce:
            require(self.total_steps is not None, "total_steps", "given when final_plain_ce=True", self.total_steps)
        if self.total_steps is not None:
            require_int("total_steps", self.total_steps, at_least=1)

    @property
    def cycle(self) -> int:
        """Steps during which one class stays emphasized (T + 1)."""
        return self.period + 1

    @property
    def plain_ce_from(self) -> int | None:
        """First step of the final plain-CE period, or None."""
        if not self.final_plain_ce:
            return None
        start = max(self.total_steps - self.period, 0)
        return -(-start // self.cycle) * self.cycle

    def peak_gamma(self) -> float:
        """Γ of the emphasized class at mid-period: C·A / (A + C − 1)."""
        C, A = self.num_classes, self.amplitude
        return C * A / (A + C - 1)

    def gammas(self, steps) -> np.ndarray:
        """Γ(t) for an array of steps t, shape (len(steps), C), float64."""
        t = np.asarray(steps, dtype=np.int64)
        T, A = self.period, self.amplitude
        tau = t % self.cycle
        emphasized = (t // self.cycle) % self.num_classes
        rise = 1.0 + 2.0 * (A - 1.0) * tau / T
        fall = 2.0 * A - 1.0 - 2.0 * (A - 1.0) * tau / T
        w_c = np.where(tau < T / 2, rise, fall)
        if self.plain_ce_from is not None:
            w_c = np.where(t >= self.plain_ce_from, 1.0, w_c)
        w = np.ones(t.shape + (self.num_classes,))
        w[np.arange(t.size).reshape(t.shape), emphasized] = w_c
        return self.num_classes * w / w.sum(axis=-1, keepdims=True)

    def gamma(self, step: int) -> np.ndarray:
        """Γ(t) at one step, shape (C,)."""
        return self.gammas([step])[0]


def cross_entropy_per_sample(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """−log softmax(z)_y for each sample."""
    return F.cross_entropy(logits, targets, reduction="none")


def weighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """−(1/P) Σ_μ Γ_{y_μ} log p_{y_μ}.

    Averaged over the P samples. (`F.cross_entropy(weight=Γ)` would divide by Σ_μ Γ_{y_μ} instead, which
    partly cancels the weighting — not the paper's loss.)
    """
    gamma = torch.as_tensor(gamma, dtype=logits.dtype, device=logits.device)
    if gamma.shape != (logits.shape[-1],):
        raise ValueError(f"gamma must have one weight per class, shape ({logits.shape[-1]},); got {tuple(gamma.shape)}")
    return (gamma[targets] * cross_entropy_per_sample(logits, targets)).mean()


class DynamicalCrossEntropy:
    """F(θ, t) as a callable `loss(logits, targets, step)`; works with any model and any number of classes."""

    def __init__(self, schedule: GammaSchedule):
        self.schedule = schedule

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, step: int) -> torch.Tensor:
        return weighted_cross_entropy(logits, targets, self.schedule.gamma(step))

    def at(self, step: int):
        """The loss frozen at step t, as a `criterion(logits, targets)` (e.g. for Hessian probes of F at t)."""
        gamma = self.schedule.gamma(step)
        return lambda logits, targets: weighted_cross_entropy(logits, targets, gamma)


# ------------------------------------------------------------------------------------------ MSE variants
# Lavin & Ruiz-Garcia (2024) define a dynamical cross-entropy (DCE) and two dynamical MSE losses (DMSE1, DMSE2)
# without, in what we could read, spelling out their formulas. The book's reading, with one-hot targets y:
#   DMSE1 = (1/P) Σ_μ Γ_{y_μ}(t) Σ_k (z_μk − y_μk)²   (each sample weighted by the weight of its class)
#   DMSE2 = (1/P) Σ_μ Σ_k Γ_k(t) (z_μk − y_μk)²       (each output k weighted by the weight of class k)
# Both vanish exactly where MSE vanishes (z = y on every sample), so the global minima are MSE's; A = 1 is MSE.
LOSSES = ("dce", "dmse1", "dmse2")
STATIC_LOSS = {"dce": "cross-entropy", "dmse1": "MSE", "dmse2": "MSE"}


def squared_errors(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(z_k − y_k)² with one-hot y, same shape as the logits."""
    return (logits - F.one_hot(targets, logits.shape[-1]).to(logits.dtype)) ** 2


def mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(1/P) Σ_μ Σ_k (z_μk − y_μk)²."""
    return squared_errors(logits, targets).sum(-1).mean()


def _gamma_like(gamma, logits):
    gamma = torch.as_tensor(gamma, dtype=logits.dtype, device=logits.device)
    if gamma.shape != (logits.shape[-1],):
        raise ValueError(f"gamma must have one weight per class, shape ({logits.shape[-1]},); got {tuple(gamma.shape)}")
    return gamma


def dmse1(logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """(1/P) Σ_μ Γ_{y_μ} Σ_k (z_μk − y_μk)² — the book's reading of DMSE1."""
    gamma = _gamma_like(gamma, logits)
    return (gamma[targets] * squared_errors(logits, targets).sum(-1)).mean()


def dmse2(logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """(1/P) Σ_μ Σ_k Γ_k (z_μk − y_μk)² — the book's reading of DMSE2."""
    gamma = _gamma_like(gamma, logits)
    return (squared_errors(logits, targets) * gamma).sum(-1).mean()


def dynamical_loss(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """One of LOSSES for one model: logits (P, C), gamma (C,)."""
    require_choice("loss", kind, LOSSES)
    return {"dce": weighted_cross_entropy, "dmse1": dmse1, "dmse2": dmse2}[kind](logits, targets, gamma)


def per_member_losses(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor):
    """Batched over an ensemble: logits (E, P, C), targets (P,), gamma (E, C) → (objective (E,), static (E,)).

    The static loss is the A = 1 counterpart (cross-entropy for "dce", MSE for the others)."""
    if kind == "dce":
        per_sample = -torch.log_softmax(logits, -1).gather(-1, targets.expand(logits.shape[0], -1).unsqueeze(-1))
        per_sample = per_sample.squeeze(-1)  # (E, P)
        return (gamma[:, targets] * per_sample).mean(-1), per_sample.mean(-1)
    sq = squared_errors(logits, targets)  # (E, P, C)
    per_sample = sq.sum(-1)
    if kind == "dmse1":
        return (gamma[:, targets] * per_sample).mean(-1), per_sample.mean(-1)
    if kind == "dmse2":
        return (sq * gamma[:, None, :]).sum(-1).mean(-1), per_sample.mean(-1)
    require_choice("loss", kind, LOSSES)
