"""Reading the Fig. 4 run: periods, period-doubling onsets, sharpness around them, mid-period minima; and the
initialization table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...losses import GammaSchedule

MIN_ALTERNATIONS = 20  # consecutive sign flips of ΔF that count as a period-2 (or higher) oscillation
MIN_STEP_CHANGE = 1e-7  # |ΔF| below this is rounding noise, not an oscillation
GROWTH_WINDOW = 200  # steps after onset over which the oscillation must grow


def oscillating_periods(schedule: GammaSchedule, steps: int) -> list[tuple[int, int]]:
    """[start, end) of each full period with a class emphasized (the final plain-CE period excluded)."""
    stop = schedule.plain_ce_from if schedule.plain_ce_from is not None else steps + 1
    return [(s, s + schedule.cycle) for s in range(0, stop - schedule.cycle + 1, schedule.cycle)]


@dataclass
class Cascade:
    period: int
    onset: int  # first step of the alternating run
    amplitude_at_onset: float  # median |ΔF| over the first MIN_ALTERNATIONS steps
    amplitude_later: float  # max |ΔF| over the next GROWTH_WINDOW steps

    @property
    def growth(self) -> float:
        return self.amplitude_later / max(self.amplitude_at_onset, 1e-300)


def cascade_onsets(objective: np.ndarray, schedule: GammaSchedule) -> list[Cascade]:
    """For each oscillating period, the first step in its second half from which ΔF_t = F_{t+1} − F_t alternates in
    sign for MIN_ALTERNATIONS consecutive steps (a period-2 orbit: the start of a period-doubling cascade).

    The first half is skipped: chaos left over from the previous period dies out there.
    """
    dF = np.diff(objective)
    out = []
    for p, (start, end) in enumerate(oscillating_periods(schedule, len(objective) - 1)):
        lo, hi = start + schedule.period // 2, min(end, len(dF) - 1)
        d = dF[lo:hi + 1]
        flips = (d[:-1] * d[1:] < 0) & (np.abs(d[:-1]) > MIN_STEP_CHANGE)
        run = np.convolve(flips.astype(int), np.ones(MIN_ALTERNATIONS, dtype=int), mode="valid")
        hits = np.nonzero(run == MIN_ALTERNATIONS)[0]
        if hits.size == 0:
            continue
        i = int(hits[0])
        onset = lo + i
        first = np.median(np.abs(d[i:i + MIN_ALTERNATIONS]))
        later = np.abs(dF[onset:onset + GROWTH_WINDOW]).max()
        out.append(Cascade(p, onset, float(first), float(later)))
    return out


def first_crossing(steps: np.ndarray, values: np.ndarray, level: float, start: int, end: int) -> int | None:
    """First probe step in [start, end) where values ≥ level."""
    mask = (steps >= start) & (steps < end) & (values >= level)
    return int(steps[mask][0]) if mask.any() else None


def mid_period_minima(steps: np.ndarray, values: np.ndarray, schedule: GammaSchedule, total_steps: int) -> np.ndarray:
    """min of a probe over the middle half of each oscillating period (τ ∈ [T/4, 3T/4]), where Γ_c is largest."""
    out = []
    for start, _ in oscillating_periods(schedule, total_steps):
        lo, hi = start + schedule.period // 4, start + 3 * schedule.period // 4
        mask = (steps >= lo) & (steps <= hi)
        out.append(values[mask].min() if mask.any() else np.nan)
    return np.array(out)


def init_table_accuracies(table, init: str, amplitude: float) -> np.ndarray:
    """The final training accuracies (one per seed) of the init table's runs with this initialization and amplitude
    (A = 1: plain cross-entropy)."""
    return table["final_accuracy"][(table["init"] == init) & (table["amplitude"] == amplitude)]


def init_table_summary(table) -> pd.DataFrame:
    """Mean, min, max and count of the final training accuracy per initialization and loss."""
    return (pd.DataFrame({"init": table["init"], "loss": np.where(table["amplitude"] == 1, "plain CE",
                                                                  "dynamical A = 70"),
                          "final train accuracy": table["final_accuracy"]})
            .groupby(["init", "loss"], sort=False)["final train accuracy"]
            .agg(["mean", "min", "max", "count"]).round(3).reset_index())


def period_table(result, schedule: GammaSchedule, steps: int, min_growth: float = 10) -> pd.DataFrame:
    """One row per oscillating period of the Fig. 4 run: its steps, the cascade onset (t and τ, when |ΔF| grows at
    least `min_growth`× within GROWTH_WINDOW steps), that growth, the mid-period minimum of λ_max and the training
    accuracy at the period's end. `result` holds "objective", "accuracy", "hessian_max_steps", "hessian_max"."""
    periods = oscillating_periods(schedule, steps)
    onsets = {c.period: c for c in cascade_onsets(result["objective"], schedule)}
    minima = mid_period_minima(result["hessian_max_steps"], result["hessian_max"], schedule, steps)
    rows = []
    for p, (start, end) in enumerate(periods):
        c = onsets.get(p)
        grown = c is not None and c.growth >= min_growth
        rows.append({"period": p + 1, "steps": f"{start:,}–{end - 1:,}",
                     "cascade onset t": f"{c.onset:,}" if grown else "none",
                     "onset τ": f"{c.onset - start:,}" if grown else "—",
                     f"|ΔF| growth in {GROWTH_WINDOW} steps": f"{c.growth:,.0f}×" if c else "—",
                     "mid-period min λ_max": round(float(minima[p]), 2),
                     "train acc. at period end": round(float(result["accuracy"][min(end, steps)]), 3)})
    return pd.DataFrame(rows)
