"""Γ(t) of the dynamical loss of Ruiz-Garcia et al. (ICML 2021): class weights that emphasize one class at a time.

Γ_i(t) = C · w_i(t) / Σ_j w_j(t), so that Σ_i Γ_i = C at every step. One class c is emphasized at a time: its raw
weight w_c follows a triangle wave over a local clock τ ∈ [0, T] (1 at both ends, the amplitude A in the middle);
all other classes have w = 1. As in the authors' code, τ increments after each step and resets to 0 when τ > T,
moving the emphasis to the next class, so each class is emphasized for T + 1 steps and class 0 comes first. A = 1
gives Γ ≡ 1, i.e. the plain loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import require, require_finite, require_int


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
