"""The dynamical losses as drop-in nn.Modules for a training loop, with the clock t of Γ(t).

`DynamicalCrossEntropy` is called like `nn.CrossEntropyLoss`, `DynamicalMSELoss` like an MSE loss; both compute
`losses.per_sample_losses`. The clock follows PyTorch's learning-rate schedulers: `loss_fn.step()` once per
optimizer step (after `optimizer.step()`), `last_epoch` (= t, the steps taken), `state_dict()` /
`load_state_dict()` carry it in checkpoints. `steps_per_epoch=B` gives `period` (and `total_steps`) in epochs:
the schedule runs over T·B optimizer steps. A loss called for `UNSTEPPED_CALLS` training steps without `step()` warns
once (its Γ would stay Γ(0) ≡ 1: plain cross-entropy). Γ(t) reaches the device without a copy from the host: the two
values it takes are written into a cached tensor there.
"""

from __future__ import annotations

import copy
import os
import sys
import warnings

import numpy as np
import torch
from torch import nn

from .losses import (DMSE_VARIANTS, REDUCTIONS, check_logits, dynamical_cross_entropy, dynamical_mse, is_probing)
from .schedule import GammaSchedule, require_step
from .validation import require, require_choice, require_finite, require_int

UNSTEPPED_CALLS = 100  # training calls without a step() before the warning (gradient accumulation stays below it)
GAMMA_TABLE = 256  # steps of Γ computed at once on the host


def _caller_level() -> int:
    """The stack level of the first frame outside this package and torch (the user's training loop)."""
    inside = (os.path.dirname(__file__), os.path.dirname(torch.__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


class _DynamicalLoss(nn.Module):
    """Γ(t) and its clock t, shared by the dynamical losses; `step()` advances t like a learning-rate scheduler."""

    def __init__(self, num_classes, amplitude, period, total_steps, final_plain_ce, reduction, steps_per_epoch):
        super().__init__()
        if steps_per_epoch is not None:
            require_int("steps_per_epoch", steps_per_epoch, at_least=1)
        if isinstance(num_classes, GammaSchedule):  # DynamicalCrossEntropy(schedule)
            require(amplitude is None and period is None and total_steps is None and not final_plain_ce
                    and steps_per_epoch is None, "schedule", "given alone (amplitude, period, total_steps, "
                    "final_plain_ce and steps_per_epoch come from it)", num_classes)
            self.schedule = num_classes
            self._args = {"schedule": num_classes}
        else:
            # the schedule's own checks first, in the units the caller used (period=0 is an error, not 0 steps)
            GammaSchedule(num_classes, amplitude, period, total_steps, final_plain_ce)
            B = steps_per_epoch or 1
            self.schedule = GammaSchedule(num_classes, amplitude, period * B,
                                          None if total_steps is None else total_steps * B, final_plain_ce)
            self._args = {"num_classes": num_classes, "amplitude": amplitude, "period": period,
                          "steps_per_epoch": steps_per_epoch, "total_steps": total_steps,
                          "final_plain_ce": final_plain_ce}
        require_choice("reduction", reduction, REDUCTIONS)
        self.reduction = reduction
        self.steps_per_epoch = steps_per_epoch
        self._t = 0
        self._frozen = False
        self._unstepped = 0  # training calls since the last step()
        self._warned = False
        self._gamma_cache = None  # ((t, dtype, device), Γ(t) there)
        self._gamma_table = (0, np.zeros((0, self.num_classes)))  # (first step, Γ of GAMMA_TABLE steps from it)

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
        self._unstepped = 0

    @property
    def last_epoch(self) -> int:
        """The clock as a learning-rate scheduler names it: the number of `step()` calls (= t)."""
        return self._t

    @last_epoch.setter
    def last_epoch(self, value) -> None:
        self.t = value

    def step(self) -> None:
        """Advance t by one optimizer step (call it after `optimizer.step()`, as a scheduler's step)."""
        require(not self._frozen, "step", "called on the loss itself, not on a copy frozen by at(t)", "a frozen copy")
        self._t += 1
        self._unstepped = 0

    @property
    def gamma(self) -> torch.Tensor:
        """Γ(t) now, shape (C,), float64 on the CPU."""
        return torch.as_tensor(self.schedule.gamma(self._t))

    def _gamma_at(self, logits: torch.Tensor, step) -> torch.Tensor:
        """Γ(t) on the logits' device and dtype (t = the clock, or `step`), from Python numbers: no host copy."""
        if step is None:
            step = self._t
            if torch.is_grad_enabled() and logits.requires_grad and not self._frozen and not is_probing():
                self._count_training_call()
        else:
            require_step("step", step)
        key = (int(step), logits.dtype, logits.device)
        if self._gamma_cache is None or self._gamma_cache[0] != key:
            values = self._gamma_row(key[0])  # float64, exactly GammaSchedule's numbers
            c = int(values.argmax())
            others = float(values[(c + 1) % self.num_classes])  # every class but the emphasized one has this Γ
            gamma = torch.full((self.num_classes,), others, dtype=logits.dtype, device=logits.device)
            gamma[c] = float(values[c])
            self._gamma_cache = (key, gamma)
        return self._gamma_cache[1]

    def _gamma_row(self, t: int):
        """Γ(t) from a host table of GAMMA_TABLE steps (one numpy call per block of steps, not one per step)."""
        start, table = self._gamma_table
        if not start <= t < start + len(table):
            start, table = self._gamma_table = t, self.schedule.gammas(np.arange(t, t + GAMMA_TABLE))
        return table[t - start]

    def _count_training_call(self) -> None:
        self._unstepped += 1
        if self._unstepped >= UNSTEPPED_CALLS and not self._warned:
            self._warned = True
            warnings.warn(f"{type(self).__name__} was called for {self._unstepped} training steps at t={self._t} "
                          "without loss_fn.step(): Γ(t) does not advance (call loss_fn.step() after "
                          "optimizer.step(), or use loss_fn.at(t) for a fixed t)", UserWarning,
                          stacklevel=_caller_level())

    def at(self, step: int) -> "_DynamicalLoss":
        """A copy of this loss frozen at t = step (e.g. to probe the Hessian of F at t): its clock does not step."""
        require_step("step", step)
        frozen = copy.deepcopy(self)
        frozen.t = step
        frozen._frozen = True
        return frozen

    def get_extra_state(self) -> dict:
        return {"t": self._t}

    def set_extra_state(self, state) -> None:
        require(isinstance(state, dict) and "t" in state, "state_dict", "a state with the clock 't'", state)
        self.t = state["t"]

    def extra_repr(self) -> str:
        args = dict(self._args, **self._module_args(), t=self._t)
        return ", ".join(f"{k}={v!r}" for k, v in args.items())

    def _module_args(self) -> dict:
        return {"reduction": self.reduction}


class DynamicalCrossEntropy(_DynamicalLoss):
    """The dynamical cross-entropy as a drop-in `nn.CrossEntropyLoss`: `loss_fn(logits, targets)`, then
    `loss_fn.step()` after each optimizer step.

    num_classes C, amplitude A (≥ 1; A = 1 is nn.CrossEntropyLoss with the same arguments), period T in optimizer
    steps — or in epochs with steps_per_epoch=B (the schedule then runs over T·B steps; so do total_steps);
    total_steps/final_plain_ce as in `GammaSchedule` (or pass a GammaSchedule alone). weight, ignore_index,
    reduction, label_smoothing and probability targets as in nn.CrossEntropyLoss.

    Γ_i(t) multiplies the class weights ω = weight: sample μ of class y_μ counts Γ_{y_μ}(t)·ω_{y_μ} times its
    cross-entropy (smoothing and probability targets weight class i's term by Γ_i ω_i). reduction="mean" divides by
    what nn.CrossEntropyLoss(weight=ω) divides by — the number of samples not ignored, or Σ_μ ω_{y_μ}; N for
    probability targets — never by Σ_μ Γ_{y_μ}ω_{y_μ}, which would cancel the emphasis (the pitfall of passing
    weight=Γ to F.cross_entropy). On the full batch this is the paper's F(θ, t) = −(1/P) Σ_μ Γ_{y_μ}(t) log p_{y_μ};
    on a mini-batch it is the same mean over the batch, whose normalization does not depend on the batch's class
    mix, so uniformly drawn batches estimate F(θ, t) without bias. The paper's steps are full-batch steps (one per
    epoch): steps_per_epoch=B keeps its T in epochs.
    """

    def __init__(self, num_classes=None, amplitude=None, period=None, *, weight=None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0, total_steps: int | None = None,
                 final_plain_ce: bool = False, steps_per_epoch: int | None = None):
        super().__init__(num_classes, amplitude, period, total_steps, final_plain_ce, reduction, steps_per_epoch)
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

    def _module_args(self) -> dict:
        weight = None if self.weight is None else self.weight.tolist()
        return {"weight": weight, "ignore_index": self.ignore_index, "reduction": self.reduction,
                "label_smoothing": self.label_smoothing}


class DynamicalMSELoss(_DynamicalLoss):
    """The follow-up's dynamical MSE (Lavin & Ruiz-Garcia 2024, the book's reading), as an nn.Module.

    variant "dmse1": sample μ weighted by the Γ of its class, Γ_{y_μ}(t) Σ_k (z_μk − y_μk)²; "dmse2": output k
    weighted by Γ_k(t), Σ_k Γ_k(t) (z_μk − y_μk)². Targets are class indices (y one-hot) or float targets (N, C).
    reduction="mean" averages over the N samples and sums over outputs, so A = 1 gives
    (1/N) Σ_μ Σ_k (z_μk − y_μk)² = nn.MSELoss(reduction="sum") / N (nn.MSELoss's "mean" would also divide by C).
    The clock (and steps_per_epoch) works as in DynamicalCrossEntropy.
    """

    def __init__(self, num_classes=None, amplitude=None, period=None, *, variant: str = "dmse1",
                 reduction: str = "mean", total_steps: int | None = None, final_plain_ce: bool = False,
                 steps_per_epoch: int | None = None):
        super().__init__(num_classes, amplitude, period, total_steps, final_plain_ce, reduction, steps_per_epoch)
        require_choice("variant", variant, DMSE_VARIANTS)
        self.variant = variant

    def forward(self, input: torch.Tensor, target: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """The loss at Γ(t) (t = the clock, or `step` for this call only)."""
        check_logits(input, self.num_classes)
        return dynamical_mse(self.variant, input, target, self._gamma_at(input, step), self.reduction)

    def _module_args(self) -> dict:
        return {"variant": self.variant, "reduction": self.reduction}
