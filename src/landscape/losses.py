"""Losses: the dynamical loss of Ruiz-Garcia et al. (ICML 2021) and its MSE forms, each defined once, per sample.

The dynamical cross-entropy at full-batch step t is

    F(θ, t) = −(1/P) Σ_μ Γ_{y_μ}(t) · log softmax(z(x_μ))_{y_μ},

with the class weights Γ(t) of `GammaSchedule` (`schedule.py`). `per_sample_losses` is the one definition of every
loss in `LOSSES`: the trainers (`training`, `ensemble`), the probes, the functions below and the nn.Modules of
`loss_modules` (`DynamicalCrossEntropy`, `DynamicalMSELoss`) all compute it. Nothing here reads a tensor's values on
the host: no `.item()`, no `bool(tensor)`, no copy of Γ from numpy, so a forward and backward pass on a GPU never
waits for the device (a label outside 0…C−1 is caught by an asynchronous device assertion there; on the CPU it is
a ConfigError naming `targets`).
"""

from __future__ import annotations

import contextlib
import contextvars

import torch
import torch.nn.functional as F

from .schedule import GammaSchedule, require_step  # noqa: F401  (GammaSchedule: one import place for the losses)
from .validation import require, require_choice

# Lavin & Ruiz-Garcia (2024) define a dynamical cross-entropy (DCE) and two dynamical MSE losses (DMSE1, DMSE2)
# without, in what we could read, spelling out their formulas. The book's reading, with one-hot targets y:
#   DMSE1 = (1/P) Σ_μ Γ_{y_μ}(t) Σ_k (z_μk − y_μk)²   (each sample weighted by the weight of its class)
#   DMSE2 = (1/P) Σ_μ Σ_k Γ_k(t) (z_μk − y_μk)²       (each output k weighted by the weight of class k)
# Both vanish exactly where MSE vanishes (z = y on every sample), so the global minima are MSE's; A = 1 is MSE.
LOSSES = ("dce", "dmse1", "dmse2")
STATIC_LOSS = {"dce": "cross-entropy", "dmse1": "MSE", "dmse2": "MSE"}
DMSE_VARIANTS = ("dmse1", "dmse2")
REDUCTIONS = ("mean", "sum", "none")


# -------------------------------------------------------------------------------------------- input checks
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
    `targets` on the CPU, not torch's IndexError; on another device an asynchronous device assertion (no sync)."""
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
    allowed = f"class labels in 0...{C - 1}" + (f" (or ignore_index={ignore_index})" if ignore_index is not None else "")
    try:  # raises here on the CPU; on a GPU it is queued with the kernels and fails at the next sync
        torch._assert_async(valid.all(), f"targets must be {allowed}")
    except RuntimeError:
        require(False, "targets", allowed, torch.unique(targets[~valid])[:5].tolist())
    return False


def _gamma_like(gamma, logits: torch.Tensor, class_dim: int = -1) -> torch.Tensor:
    """Γ as a tensor of the logits' dtype and device (a tensor there already is used as it is: no copy)."""
    gamma = torch.as_tensor(gamma, dtype=logits.dtype, device=logits.device)
    C = logits.shape[class_dim]
    require(gamma.shape == (C,), "gamma", f"one weight per class, shape ({C},)", tuple(gamma.shape))
    return gamma


# ------------------------------------------------------------------------------------------ the one kernel
def _squared_errors(logits: torch.Tensor, targets: torch.Tensor, cd: int):
    """(y, (z − y)²): y one-hot for class indices (laid out along class axis cd), the targets themselves if float."""
    if targets.is_floating_point():
        y = targets
    else:
        y = F.one_hot(targets, logits.shape[cd]).to(logits.dtype).movedim(-1, cd - logits.ndim)
    return y, (logits - y) ** 2


def per_sample_losses(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor,
                      class_dim: int = -1, *, weight: torch.Tensor | None = None, ignore_index: int | None = None,
                      label_smoothing: float = 0.0):
    """The definition of each of LOSSES, per sample: (Γ-weighted term, its static A = 1 term).

    logits: (…, P, C), or (…, C, P) with class_dim=-2 (the layout of the ensembles' hand-written backpropagation),
    or nn.CrossEntropyLoss's (N, C, d₁, …) with class_dim=1; gamma: Γ(t), shape (…, C) — one row per leading index
    of the logits (one per ensemble member), or (C,); targets: class indices, of the logits' shape without the class
    axis or without the leading member axes, or (probabilities, one-hot or float targets) of the logits' shape.
        dce:   Γ_{y_μ} · (−log softmax(z_μ)_{y_μ}),   static: −log softmax(z_μ)_{y_μ}
        dmse1: Γ_{y_μ} · Σ_k (z_μk − y_μk)²,          static: Σ_k (z_μk − y_μk)²
        dmse2: Σ_k Γ_k (z_μk − y_μk)²,                static: Σ_k (z_μk − y_μk)²
    With float targets q, dmse1 weights sample μ by Σ_k Γ_k q_μk. For dce only, as nn.CrossEntropyLoss has them:
    class weights ω (`weight`, both terms: Γ_i becomes Γ_i ω_i), `label_smoothing` ε — ℓ_μ = (1 − ε) Γ_y ω_y (−log p_y)
    + (ε/C) Σ_i Γ_i ω_i (−log p_i), probability targets q̃ = (1 − ε) q + ε/C: ℓ_μ = −Σ_i Γ_i ω_i q̃_i log p_i —, and
    `ignore_index` (those samples' terms are 0).
    """
    require_choice("loss", kind, LOSSES)
    require(-logits.ndim <= class_dim < logits.ndim, "class_dim", f"a dimension of the logits ({logits.ndim})",
            class_dim)
    cd = class_dim % logits.ndim
    C, lead, after = logits.shape[cd], gamma.ndim - 1, logits.ndim - cd - 1

    def along(w):  # class weights (…lead, C) laid out along the logits' class axis
        return w.reshape(*w.shape[:-1], *[1] * (cd - lead), C, *[1] * after)

    probabilities = targets.is_floating_point()
    if kind != "dce":
        require(weight is None and ignore_index is None and label_smoothing == 0.0, "weight",
                "None for the MSE losses (weight, ignore_index and label_smoothing are cross-entropy options)", weight)
        y, sq = _squared_errors(logits, targets, cd)
        static = sq.sum(cd)
        if kind == "dmse2":
            return (sq * along(gamma)).sum(cd), static
        return ((y * along(gamma)).sum(cd) if probabilities else gamma[..., targets]) * static, static
    logp = torch.log_softmax(logits, cd)
    class_weight = gamma if weight is None else gamma * weight.to(gamma)
    if probabilities:
        q = targets if label_smoothing == 0.0 else (1.0 - label_smoothing) * targets + label_smoothing / C
        static_q = q if weight is None else q * along(weight.to(logits))
        return -(along(class_weight) * q * logp).sum(cd), -(static_q * logp).sum(cd)
    kept = None if ignore_index is None else targets != ignore_index
    index = targets if kept is None else torch.where(kept, targets, torch.zeros_like(targets))
    sample_shape = logits.shape[:cd] + logits.shape[cd + 1:]
    nll = -logp.gather(cd, index.expand(sample_shape).unsqueeze(cd)).squeeze(cd)
    weighted = class_weight[..., index] * nll
    static = nll if weight is None else weight.to(logits)[index] * nll
    if label_smoothing:
        eps = label_smoothing
        smooth = -(along(class_weight) * logp).sum(cd)
        static_smooth = -logp.sum(cd) if weight is None else -(along(weight.to(logits)) * logp).sum(cd)
        weighted = (1.0 - eps) * weighted + eps / C * smooth
        static = (1.0 - eps) * static + eps / C * static_smooth
    if kept is not None:
        weighted = torch.where(kept, weighted, torch.zeros_like(weighted))
        static = torch.where(kept, static, torch.zeros_like(static))
    return weighted, static


def per_member_losses(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor,
                      class_dim: int = -1):
    """Batched over an ensemble: logits (E, P, C) (or (E, C, P) with class_dim=-2), targets (P,), gamma (E, C) →
    (objective (E,), static (E,)), the means over the P samples of `per_sample_losses`."""
    weighted, static = per_sample_losses(kind, logits, targets, gamma, class_dim)
    return weighted.mean(-1), static.mean(-1)


# ------------------------------------------------------------------------------ the losses at a given Γ
def _reduce(losses: torch.Tensor, reduction: str, count) -> torch.Tensor:
    """"none", "sum", or "mean": Σ losses / count (a tensor on the losses' device, so nothing is read on the host)."""
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / count


def dynamical_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, gamma, weight: torch.Tensor | None = None,
                            ignore_index: int = -100, reduction: str = "mean",
                            label_smoothing: float = 0.0) -> torch.Tensor:
    """The dynamical cross-entropy at one Γ, with nn.CrossEntropyLoss's arguments (`per_sample_losses`, "dce").

    reduction="mean" divides Σ_μ ℓ_μ by what `F.cross_entropy(weight=ω)` divides by: Σ_μ ω_{y_μ} over the samples
    not ignored (their count without weight; the number of samples for probability targets) — never by
    Σ_μ Γ_{y_μ} ω_{y_μ}, which would partly cancel the emphasis. Without weight, smoothing or ignored samples this is
    the paper's F(θ, t) = −(1/P) Σ_μ Γ_{y_μ}(t) log p_{y_μ}.
    """
    probabilities = check_logits_targets(logits, targets, ignore_index=ignore_index)
    require(not probabilities or ignore_index == -100, "ignore_index", "-100 (unused) with probability targets",
            ignore_index)
    require_choice("reduction", reduction, REDUCTIONS)
    cd = _class_dim(logits)
    gamma = _gamma_like(gamma, logits, cd)
    losses, _ = per_sample_losses("dce", logits, targets, gamma, cd, weight=weight,
                                  ignore_index=None if probabilities else ignore_index,
                                  label_smoothing=label_smoothing)
    if reduction != "mean":
        return _reduce(losses, reduction, None)
    if probabilities:
        return losses.mean()
    kept = targets != ignore_index
    if weight is None:
        return _reduce(losses, reduction, kept.sum())
    index = torch.where(kept, targets, torch.zeros_like(targets))
    return _reduce(losses, reduction, (weight.to(losses)[index] * kept).sum())


def weighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """−(1/P) Σ_μ Γ_{y_μ} log p_{y_μ}: `dynamical_cross_entropy` with its defaults.

    Averaged over the P samples. (`F.cross_entropy(weight=Γ)` would divide by Σ_μ Γ_{y_μ} instead, which
    partly cancels the weighting — not the paper's loss.)
    """
    return dynamical_cross_entropy(logits, targets, gamma)


def dynamical_mse(variant: str, logits: torch.Tensor, targets: torch.Tensor, gamma,
                  reduction: str = "mean") -> torch.Tensor:
    """DMSE1 or DMSE2 at one Γ (`per_sample_losses`); reduction "none" gives the per-sample terms (N,), "mean" their
    mean over N. targets: class indices (N,) (y one-hot) or float targets (N, C)."""
    require_choice("variant", variant, DMSE_VARIANTS)
    require_choice("reduction", reduction, REDUCTIONS)
    require(isinstance(logits, torch.Tensor) and logits.ndim == 2, "logits", "a tensor of shape (N, C)",
            _shape_of(logits))
    check_logits_targets(logits, targets)
    losses, _ = per_sample_losses(variant, logits, targets, _gamma_like(gamma, logits))
    return losses.mean() if reduction == "mean" else _reduce(losses, reduction, None)


def dmse1(logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """(1/P) Σ_μ Γ_{y_μ} Σ_k (z_μk − y_μk)² — the book's reading of DMSE1."""
    return dynamical_mse("dmse1", logits, targets, gamma)


def dmse2(logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """(1/P) Σ_μ Σ_k Γ_k (z_μk − y_μk)² — the book's reading of DMSE2."""
    return dynamical_mse("dmse2", logits, targets, gamma)


def dynamical_loss(kind: str, logits: torch.Tensor, targets: torch.Tensor, gamma) -> torch.Tensor:
    """One of LOSSES for one model, averaged over the samples: logits (P, C), gamma (C,)."""
    require_choice("loss", kind, LOSSES)
    return {"dce": weighted_cross_entropy, "dmse1": dmse1, "dmse2": dmse2}[kind](logits, targets, gamma)


def mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(1/P) Σ_μ Σ_k (z_μk − y_μk)²: the static term of the MSE losses (y one-hot, or the float targets)."""
    return _squared_errors(logits, targets, logits.ndim - 1)[1].sum(-1).mean()


def half_mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """½ (1/P) Σ_μ Σ_k (z_μk − y_μk)²: the late-decay authors' loss (their `MSELoss` on one-hot targets, halved)."""
    return 0.5 * mse(logits, targets)


# --------------------------------------------------------------------------------- calls that are not steps
_PROBING = contextvars.ContextVar("landscape_probing", default=False)


@contextlib.contextmanager
def probing():
    """Calls of a dynamical loss inside are measurements (Hessians, NTKs), not training steps: they do not count
    towards the warning for a clock that is never stepped (`loss_modules`)."""
    token = _PROBING.set(True)
    try:
        yield
    finally:
        _PROBING.reset(token)


def is_probing() -> bool:
    return _PROBING.get()
