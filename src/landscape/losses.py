"""Losses: cross-entropy and the dynamical loss of Ruiz-Garcia et al. (ICML 2021).

The dynamical cross-entropy at full-batch step t is

    F(θ, t) = −(1/P) Σ_μ Γ_{y_μ}(t) · log softmax(z(x_μ))_{y_μ},

with class weights Γ_i(t) = C · w_i(t) / Σ_j w_j(t), so that Σ_i Γ_i = C at every step. One class c is
emphasized at a time: its raw weight w_c follows a triangle wave over a local clock τ ∈ [0, T] (1 at both
ends, the amplitude A in the middle); all other classes have w = 1. As in the authors' code, τ increments
after each step and resets to 0 when τ > T, moving the emphasis to the next class, so each class is
emphasized for T + 1 steps and class 0 comes first. A = 1 gives Γ ≡ 1, i.e. plain cross-entropy.

For training loops: `DynamicalCrossEntropy` (a drop-in nn.CrossEntropyLoss) and `DynamicalMSELoss` are nn.Modules
that keep the clock t (`step()`, `state_dict()`); the functions below are the same losses at a given Γ.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .validation import require, require_choice, require_finite, require_int


def require_step(field: str, value) -> None:
    """t: an integer >= 0 (Python or NumPy integer; 2.7 is not truncated, −1 does not wrap)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    require(ok, field, "an integer", value)
    require(value >= 0, field, "an integer >= 0", value)


def _steps_array(steps) -> np.ndarray:
    """Steps as an int64 array; non-integer or negative steps are a ConfigError naming `steps`."""
    t = np.asarray(steps)
    if t.size == 0:
        return t.astype(np.int64)
    if t.dtype.kind not in "iu":
        fractional = [v for v in t.ravel().tolist() if not (isinstance(v, (int, float)) and float(v).is_integer())]
        require(False, "steps", "integers (an integer dtype)", fractional[0] if fractional else t.ravel()[0].item())
    require(t.min() >= 0, "steps", "integers >= 0", int(t.min()))
    return t.astype(np.int64)


@dataclass(frozen=True)
class GammaSchedule:
    """Γ_i(t) of the dynamical loss.

    num_classes: C (≥ 2). amplitude: A (≥ 1; A = 1 is plain CE). period: T in full-batch steps (≥ 1).
    total_steps / final_plain_ce: when both are given, the emphasis stops (A → 1) from the first period start
    s ≥ total_steps − T onward, as in the authors' Fig. 4 notebook ("the last period is plain CE").
    total_steps / final_plain_steps: the emphasis stops for the last `final_plain_steps` steps, whatever T — the
    sweeps' final plain phase, of one length for every period (not the authors' option; the book's choice).
    """

    num_classes: int
    amplitude: float
    period: int
    total_steps: int | None = None
    final_plain_ce: bool = False
    final_plain_steps: int = 0

    def __post_init__(self):
        require_int("num_classes", self.num_classes, at_least=2)
        require_finite("amplitude", self.amplitude)
        require(self.amplitude >= 1, "amplitude", ">= 1 (A = 1 is plain cross-entropy)", self.amplitude)
        require_int("period", self.period, at_least=1)
        if self.final_plain_ce:
            require(self.total_steps is not None, "total_steps", "given when final_plain_ce=True", self.total_steps)
        if self.total_steps is not None:
            require_int("total_steps", self.total_steps, at_least=1)
        require_int("final_plain_steps", self.final_plain_steps, at_least=0)
        if self.final_plain_steps:
            require(self.total_steps is not None, "total_steps", "given when final_plain_steps > 0", self.total_steps)
            require(not self.final_plain_ce, "final_plain_steps", "0 when final_plain_ce=True (one final phase)",
                    self.final_plain_steps)
            require(self.final_plain_steps < self.total_steps, "final_plain_steps", "< total_steps",
                    self.final_plain_steps)

    @property
    def cycle(self) -> int:
        """Steps during which one class stays emphasized (T + 1)."""
        return self.period + 1

    @property
    def plain_ce_from(self) -> int | None:
        """First step of the final plain-CE phase, or None."""
        if self.final_plain_steps:
            return self.total_steps - self.final_plain_steps
        if not self.final_plain_ce:
            return None
        start = max(self.total_steps - self.period, 0)
        return -(-start // self.cycle) * self.cycle

    def peak_gamma(self) -> float:
        """Γ of the emphasized class at mid-period: C·A / (A + C − 1)."""
        C, A = self.num_classes, self.amplitude
        return C * A / (A + C - 1)

    def gammas(self, steps) -> np.ndarray:
        """Γ(t) for an array of steps t (integers >= 0), shape (len(steps), C), float64."""
        t = _steps_array(steps)
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
        """Γ(t) at one step t (an integer >= 0), shape (C,)."""
        require_step("step", step)
        return self.gammas([step])[0]


# -------------------------------------------------------------------------------------------- input checks
REDUCTIONS = ("mean", "sum", "none")


def _class_dim(logits: torch.Tensor) -> int:
    return 1 if logits.ndim >= 2 else 0


def _shape_of(a):
    return tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__


def check_logits(logits, num_classes: int | None = None) -> None:
    """logits: a floating-point tensor (N, C), (N, C, d₁, …) or (C,), with C = num_classes when given."""
    require(isinstance(logits, torch.Tensor) and logits.is_floating_point() and logits.ndim >= 1, "logits",
            "a floating-point tensor of shape (N, C), (N, C, d1, ...) or (C,)", _shape_of(logits))
    if num_classes is not None:
        cd = _class_dim(logits)
        require(logits.shape[cd] == num_classes, "logits",
                f"of shape (N, {num_classes}, ...): one logit per class along dim {cd}", _shape_of(logits))


def check_logits_targets(logits, targets, num_classes: int | None = None, ignore_index: int | None = None) -> bool:
    """Shapes and labels of a (logits, targets) pair as `nn.CrossEntropyLoss` takes them: logits (N, C), (N, C, d₁, …)
    or (C,); targets class indices (logits' shape without C) or class probabilities (the logits' shape).

    Returns True for probability targets. A label outside 0…C−1 (other than ignore_index) is a ConfigError naming
    `targets`, not torch's IndexError or a device-side assert."""
    check_logits(logits, num_classes)
    cd = _class_dim(logits)
    C = logits.shape[cd]
    index_shape = tuple(logits.shape[:cd]) + tuple(logits.shape[cd + 1:])
    require(isinstance(targets, torch.Tensor) and (targets.shape == logits.shape if targets.is_floating_point() else
                                                   tuple(targets.shape) == index_shape), "targets",
            f"class indices of shape {index_shape} or class probabilities of shape {tuple(logits.shape)}",
            _shape_of(targets))
    if targets.is_floating_point():
        return True
    valid = (targets >= 0) & (targets < C)
    if ignore_index is not None:
        valid |= targets == ignore_index
    if not bool(valid.all()):
        bad = torch.unique(targets[~valid])[:5].tolist()
        ignored = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
        require(False, "targets", f"class labels in 0...{C - 1}{ignored}", bad)
    return False


def _gamma_like(gamma, logits: torch.Tensor, class_dim: int = -1) -> torch.Tensor:
    gamma = torch.as_tensor(gamma, dtype=logits.dtype, device=logits.device)
    C = logits.shape[class_dim]
    require(gamma.shape == (C,), "gamma", f"one weight per class, shape ({C},)", tuple(gamma.shape))
    return gamma


# ---------------------------------------------------------------------------------------- cross-entropy
def cross_entropy_per_sample(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """−log softmax(z)_y for each sample."""
    return F.cross_entropy(logits, targets, reduction="none")


def dynamical_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, gamma, weight: torch.Tensor | None = None,
                            ignore_index: int = -100, reduction: str = "mean",
                            label_smoothing: float = 0.0) -> torch.Tensor:
    """The dynamical cross-entropy at one Γ: `F.cross_entropy` with class weights Γ_i·ω_i, normalized as with ω alone.

    Per sample μ, with class index y_μ and smoothing ε:
        ℓ_μ = (1 − ε) Γ_{y_μ} ω_{y_μ} (−log p_{y_μ}) + (ε/C) Σ_i Γ_i ω_i (−log p_i),
    and with class probabilities q_μ: ℓ_μ = −Σ_i Γ_i ω_i q̃_μi log p_μi, q̃ = (1 − ε) q + ε/C (ω = weight, or 1).
    reduction="mean" divides Σ_μ ℓ_μ by what `F.cross_entropy(weight=ω)` divides by: Σ_μ ω_{y_μ} over the samples
    not ignored (their count without weight; N for probability targets) — never by Σ_μ Γ_{y_μ} ω_{y_μ}, which would
    partly cancel the emphasis. Without weight, smoothing or ignored samples this is the paper's
    F(θ, t) = −(1/P) Σ_μ Γ_{y_μ}(t) log p_{y_μ}.
    """
    probabilities = check_logits_targets(logits, targets, ignore_index=ignore_index)
    require(not probabilities or ignore_index == -100, "ignore_index", "-100 (unused) with probability targets",
            ignore_index)
    require_choice("reduction", reduction, REDUCTIONS)
    gamma = _gamma_like(gamma, logits, _class_dim(logits))
    class_weight = gamma if weight is None else gamma * weight.to(gamma)
    losses = F.cross_entropy(logits, targets, weight=class_weight, ignore_index=ignore_index, reduction="none",
                             label_smoothing=label_smoothing)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if probabilities:
        return losses.mean()
    kept = targets != ignore_index
    if weight is None:
        return losses.mean() if bool(kept.all()) else losses.sum() / kept.sum()
    return losses.sum() / weight.to(losses)[targets[kept]].sum()


def weighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """−(1/P) Σ_μ Γ_{y_μ} log p_{y_μ}: `dynamical_cross_entropy` with its defaults.

    Averaged over the P samples. (`F.cross_entropy(weight=Γ)` would divide by Σ_μ Γ_{y_μ} instead, which
    partly cancels the weighting — not the paper's loss.)
    """
    return dynamical_cross_entropy(logits, targets, gamma)


# ------------------------------------------------------------------------------------------ MSE variants
# Lavin & Ruiz-Garcia (2024) define a dynamical cross-entropy (DCE) and two dynamical MSE losses (DMSE1, DMSE2)
# without, in what we could read, spelling out their formulas. The book's reading, with one-hot targets y:
#   DMSE1 = (1/P) Σ_μ Γ_{y_μ}(t) Σ_k (z_μk − y_μk)²   (each sample weighted by the weight of its class)
#   DMSE2 = (1/P) Σ_μ Σ_k Γ_k(t) (z_μk − y_μk)²       (each output k weighted by the weight of class k)
# Both vanish exactly where MSE vanishes (z = y on every sample), so the global minima are MSE's; A = 1 is MSE.
LOSSES = ("dce", "dmse1", "dmse2")
STATIC_LOSS = {"dce": "cross-entropy", "dmse1": "MSE", "dmse2": "MSE"}
DMSE_VARIANTS = ("dmse1", "dmse2")


def squared_errors(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(z_k − y_k)², same shape as the logits; y is one-hot for class indices, the targets themselves if float."""
    y = targets if targets.is_floating_point() else F.one_hot(targets, logits.shape[-1]).to(logits.dtype)
    return (logits - y) ** 2


def mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(1/P) Σ_μ Σ_k (z_μk − y_μk)²."""
    return squared_errors(logits, targets).sum(-1).mean()


def half_mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """½ (1/P) Σ_μ Σ_k (z_μk − y_μk)²: the late-decay authors' loss (their `MSELoss` on one-hot targets, halved)."""
    return 0.5 * mse(logits, targets)


def dynamical_mse(variant: str, logits: torch.Tensor, targets: torch.Tensor, gamma,
                  reduction: str = "mean") -> torch.Tensor:
    """DMSE1 or DMSE2 at one Γ; reduction "none" gives the per-sample terms (N,), "mean" their mean over N.

    dmse1: Γ_{y_μ} Σ_k (z_μk − y_μk)²; dmse2: Σ_k Γ_k (z_μk − y_μk)². targets: class indices (N,) (y one-hot) or float
    targets (N, C), for which dmse1 weights sample μ by Σ_k Γ_k y_μk (= Γ_{y_μ} for one-hot y)."""
    require_choice("variant", variant, DMSE_VARIANTS)
    require_choice("reduction", reduction, REDUCTIONS)
    require(isinstance(logits, torch.Tensor) and logits.ndim == 2, "logits", "a tensor of shape (N, C)",
            _shape_of(logits))
    check_logits_targets(logits, targets)
    gamma = _gamma_like(gamma, logits)
    sq = squared_errors(logits, targets)
    if variant == "dmse2":
        per_sample = (sq * gamma).sum(-1)
    else:
        weight = (targets * gamma).sum(-1) if targets.is_floating_point() else gamma[targets]
        per_sample = weight * sq.sum(-1)
    return {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.mean()}[reduction]


def dmse1(logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """(1/P) Σ_μ Γ_{y_μ} Σ_k (z_μk − y_μk)² — the book's reading of DMSE1."""
    return dynamical_mse("dmse1", logits, targets, gamma)


def dmse2(logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """(1/P) Σ_μ Σ_k Γ_k (z_μk − y_μk)² — the book's reading of DMSE2."""
    return dynamical_mse("dmse2", logits, targets, gamma)


def dynamical_loss(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """One of LOSSES for one model: logits (P, C), gamma (C,)."""
    require_choice("loss", kind, LOSSES)
    return {"dce": weighted_cross_entropy, "dmse1": dmse1, "dmse2": dmse2}[kind](logits, targets, gamma)


def per_sample_losses(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor,
                      class_dim: int = -1):
    """The definition of each of LOSSES, per sample: (Γ-weighted term, its static A = 1 term), each (…, P).

    logits (…, P, C) — or (…, C, P) with class_dim=-2, the layout of the ensembles' hand-written backpropagation;
    targets: class indices (P,); gamma: Γ(t) of shape (…, C), one row per leading index (one per ensemble member).
        dce:   Γ_{y_μ} · (−log softmax(z_μ)_{y_μ}),   static: −log softmax(z_μ)_{y_μ}
        dmse1: Γ_{y_μ} · Σ_k (z_μk − y_μk)²,          static: Σ_k (z_μk − y_μk)²
        dmse2: Σ_k Γ_k (z_μk − y_μk)²,                static: Σ_k (z_μk − y_μk)²
    """
    require_choice("loss", kind, LOSSES)
    require_choice("class_dim", class_dim, (-1, -2))
    weight = gamma[..., targets]  # Γ_{y_μ}: (…, P)
    if kind == "dce":
        index = targets.expand(*logits.shape[:-2], -1).unsqueeze(class_dim)
        static = -torch.log_softmax(logits, class_dim).gather(class_dim, index).squeeze(class_dim)
        return weight * static, static
    onehot = F.one_hot(targets, logits.shape[class_dim]).to(logits.dtype)
    sq = (logits - (onehot if class_dim == -1 else onehot.T)) ** 2
    static = sq.sum(class_dim)
    if kind == "dmse1":
        return weight * static, static
    return (sq * gamma.unsqueeze(-2 if class_dim == -1 else -1)).sum(class_dim), static


def per_member_losses(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor,
                      class_dim: int = -1):
    """Batched over an ensemble: logits (E, P, C) (or (E, C, P) with class_dim=-2), targets (P,), gamma (E, C) →
    (objective (E,), static (E,)), the means over the P samples of `per_sample_losses`."""
    weighted, static = per_sample_losses(kind, logits, targets, gamma, class_dim)
    return weighted.mean(-1), static.mean(-1)


# ------------------------------------------------------------------------------- drop-in nn.Module losses
class _DynamicalLoss(nn.Module):
    """Γ(t) and its clock t, shared by the dynamical losses; `step()` advances t like a learning-rate scheduler."""

    def __init__(self, num_classes, amplitude, period, total_steps, final_plain_ce, reduction):
        super().__init__()
        if isinstance(num_classes, GammaSchedule):  # DynamicalCrossEntropy(schedule)
            require(amplitude is None and period is None and total_steps is None and not final_plain_ce, "schedule",
                    "given alone (amplitude, period, total_steps and final_plain_ce come from it)", num_classes)
            self.schedule = num_classes
        else:
            self.schedule = GammaSchedule(num_classes, amplitude, period, total_steps, final_plain_ce)
        require_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction
        self._t = 0

    @property
    def num_classes(self) -> int:
        return self.schedule.num_classes

    @property
    def t(self) -> int:
        """The clock: optimizer steps taken so far (Γ is Γ(t))."""
        return self._t

    @t.setter
    def t(self, value) -> None:
        require_step("t", value)
        self._t = int(value)

    def step(self) -> None:
        """Advance t by one optimizer step (call it after `optimizer.step()`)."""
        self._t += 1

    @property
    def gamma(self) -> torch.Tensor:
        """Γ(t) now, shape (C,), float64."""
        return torch.as_tensor(self.schedule.gamma(self._t))

    def _gamma_at(self, logits: torch.Tensor, step) -> torch.Tensor:
        t = self._t if step is None else step
        return torch.as_tensor(self.schedule.gamma(t), dtype=logits.dtype, device=logits.device)

    def at(self, step: int) -> "_DynamicalLoss":
        """A copy of this loss with its clock at t = step (e.g. to probe the Hessian of F at t)."""
        require_step("step", step)
        frozen = copy.deepcopy(self)
        frozen.t = step
        return frozen

    def get_extra_state(self) -> dict:
        return {"t": self._t}

    def set_extra_state(self, state) -> None:
        require(isinstance(state, dict) and "t" in state, "state_dict", "a state with the clock 't'", state)
        self.t = state["t"]

    def extra_repr(self) -> str:
        s = self.schedule
        return (f"num_classes={s.num_classes}, amplitude={s.amplitude}, period={s.period}, t={self._t}, "
                f"reduction={self.reduction!r}")


class DynamicalCrossEntropy(_DynamicalLoss):
    """The dynamical cross-entropy as a drop-in `nn.CrossEntropyLoss`: `loss_fn(logits, targets)`, then
    `loss_fn.step()` after each optimizer step.

    num_classes C, amplitude A (≥ 1; A = 1 is nn.CrossEntropyLoss with the same arguments), period T (optimizer
    steps); total_steps/final_plain_ce as in `GammaSchedule` (or pass a GammaSchedule alone). weight, ignore_index,
    reduction, label_smoothing and probability targets as in nn.CrossEntropyLoss.

    Γ_i(t) multiplies the class weights ω = weight: sample μ of class y_μ counts Γ_{y_μ}(t)·ω_{y_μ} times its
    cross-entropy (smoothing and probability targets weight class i's term by Γ_i ω_i). reduction="mean" divides by
    what nn.CrossEntropyLoss(weight=ω) divides by — the number of samples not ignored, or Σ_μ ω_{y_μ}; N for
    probability targets — never by Σ_μ Γ_{y_μ}ω_{y_μ}, which would cancel the emphasis (the pitfall of passing
    weight=Γ to F.cross_entropy). On the full batch this is the paper's F(θ, t) = −(1/P) Σ_μ Γ_{y_μ}(t) log p_{y_μ};
    on a mini-batch it is the same mean over the batch, whose normalization does not depend on the batch's class
    mix, so uniformly drawn batches estimate F(θ, t) without bias. t counts optimizer steps; the paper's steps are
    full-batch steps (one per epoch), so with B batches per epoch, period=T·B keeps the paper's T in epochs.
    """

    def __init__(self, num_classes=None, amplitude=None, period=None, *, weight=None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0, total_steps: int | None = None,
                 final_plain_ce: bool = False):
        super().__init__(num_classes, amplitude, period, total_steps, final_plain_ce, reduction)
        require(isinstance(ignore_index, int) and not isinstance(ignore_index, bool), "ignore_index", "an integer",
                ignore_index)
        require_finite("label_smoothing", label_smoothing)
        require(0.0 <= label_smoothing < 1.0, "label_smoothing", "in [0, 1)", label_smoothing)
        if weight is not None:
            weight = weight if isinstance(weight, torch.Tensor) else torch.as_tensor(weight, dtype=torch.float64)
            C = self.num_classes
            require(weight.shape == (C,), "weight", f"a tensor of shape ({C},): one weight per class",
                    tuple(weight.shape))
            require(weight.is_floating_point() and bool(torch.isfinite(weight).all()) and bool((weight >= 0).all()),
                    "weight", "finite floats >= 0", weight.tolist())
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: torch.Tensor, target: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """The loss at Γ(t) (t = the clock, or `step` for this call only)."""
        check_logits(input, self.num_classes)
        return dynamical_cross_entropy(input, target, self._gamma_at(input, step), self.weight, self.ignore_index,
                                       self.reduction, self.label_smoothing)


class DynamicalMSELoss(_DynamicalLoss):
    """The follow-up's dynamical MSE (Lavin & Ruiz-Garcia 2024, the book's reading), as an nn.Module.

    variant "dmse1": sample μ weighted by the Γ of its class, Γ_{y_μ}(t) Σ_k (z_μk − y_μk)²; "dmse2": output k
    weighted by Γ_k(t), Σ_k Γ_k(t) (z_μk − y_μk)². Targets are class indices (y one-hot) or float targets (N, C).
    reduction="mean" averages over the N samples and sums over outputs, so A = 1 gives
    (1/N) Σ_μ Σ_k (z_μk − y_μk)² = nn.MSELoss(reduction="sum") / N (nn.MSELoss's "mean" would also divide by C).
    The clock works as in DynamicalCrossEntropy.
    """

    def __init__(self, num_classes=None, amplitude=None, period=None, *, variant: str = "dmse1",
                 reduction: str = "mean", total_steps: int | None = None, final_plain_ce: bool = False):
        super().__init__(num_classes, amplitude, period, total_steps, final_plain_ce, reduction)
        require_choice("variant", variant, DMSE_VARIANTS)
        self.variant = variant

    def forward(self, input: torch.Tensor, target: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """The loss at Γ(t) (t = the clock, or `step` for this call only)."""
        check_logits(input, self.num_classes)
        return dynamical_mse(self.variant, input, target, self._gamma_at(input, step), self.reduction)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, " + super().extra_repr()
