"""Reading the Fig. 4 run: periods, period-doubling onsets, the stages of each cascade (period 1, 2, 4, 8 or chaos),
sharpness around them, mid-period minima, F's minima, the NTK around the period boundaries, the accuracy staircase
against the paper's read-off values; and the initialization table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scipy import stats

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


# ---- the stages of a cascade: each window of ΔF classified by its smallest period, else chaotic.
# Fixed on the Fig. 4 run, whose ΔF panel the paper describes (1 → 2 → 4 branches → chaos), before the claim read it.
STAGE_WINDOW = 64  # steps of ΔF per window
STAGE_STRIDE = 16  # steps between window starts
STAGE_PERIODS = (1, 2, 4, 8)  # a window has period p when ΔF[t + p] ≈ c·ΔF[t] at most of its steps (c ≥ 0: a growing
STAGE_RTOL = 0.1  # orbit counts): the median |ΔF[t + p] − c·ΔF[t]| within 10 % of the median |ΔF| of the window
STAGE_ATOL = 1e-4  # … and a wiggle below 1e-4 (1/3000 of the paper's ±0.3 ΔF axis) is no branching: period 1
STAGE_HOLD = 3  # a stage appears when it holds for this many consecutive windows (96 steps)
CHAOS = 0  # the stage of a window that matches no period in STAGE_PERIODS


def window_period(x: np.ndarray) -> int:
    """The smallest p in STAGE_PERIODS with median |x[t+p] − c·x[t]| ≤ STAGE_RTOL·median |x| (+ STAGE_ATOL for
    p = 1), c ≥ 0 the least-squares factor; CHAOS when none matches. Medians: a window that straddles two stages is
    read as the one that fills most of it."""
    x = np.asarray(x, dtype=np.float64)
    scale = np.median(np.abs(x))
    for p in STAGE_PERIODS:
        a, b = x[:-p], x[p:]
        c = max(0.0, float(a @ b) / max(float(a @ a), 1e-300))
        if np.median(np.abs(b - c * a)) <= STAGE_RTOL * scale + (STAGE_ATOL if p == 1 else 0.0):
            return p
    return CHAOS


@dataclass
class Stages:
    period: int  # 0-based oscillating period
    start: int  # its first step
    first: dict  # stage (1, 2, 4, 8, CHAOS) -> step of its first appearance (held STAGE_HOLD windows)

    @property
    def ordered(self) -> bool:
        """Period 1, then 2, then 4, then chaos, in that order of first appearance (8 may come anywhere)."""
        keys = (1, 2, 4, CHAOS)
        return all(k in self.first for k in keys) and all(self.first[a] < self.first[b] for a, b in zip(keys, keys[1:]))

    @property
    def bursts(self) -> bool:
        """Any branching (period ≥ 2) or chaotic stage."""
        return any(k != 1 for k in self.first)

    def describe(self) -> str:
        names = {1: "1", 2: "2", 4: "4", 8: "8", CHAOS: "chaos"}
        return " → ".join(f"{names[k]} ({t - self.start:,})" for k, t in sorted(self.first.items(), key=lambda kv: kv[1]))


def cascade_stages(objective: np.ndarray, schedule: GammaSchedule) -> list[Stages]:
    """For each oscillating period, the first appearance of each stage of ΔF_t = F_{t+1} − F_t in its second half
    (τ > T/2: the kink of Γ at T/2 and chaos left over from the previous period are left out), windows that stop at the
    period's last step."""
    dF = np.diff(objective)
    out = []
    for p, (start, end) in enumerate(oscillating_periods(schedule, len(objective) - 1)):
        labels = [(lo, window_period(dF[lo:lo + STAGE_WINDOW]))
                  for lo in range(start + schedule.period // 2 + 1, min(end - 1, len(dF)) - STAGE_WINDOW + 1, STAGE_STRIDE)]
        first, run = {}, 0
        for i, (lo, stage) in enumerate(labels):
            run = run + 1 if i and labels[i - 1][1] == stage else 1
            if run == STAGE_HOLD and stage not in first:
                first[stage] = labels[i - STAGE_HOLD + 1][0]
        out.append(Stages(p, start, first))
    return out


def objective_minima(objective: np.ndarray, schedule: GammaSchedule, steps: int) -> np.ndarray:
    """The minimum of F over each oscillating period (the bottom of its cusp)."""
    return np.array([objective[s:min(e, len(objective))].min() for s, e in oscillating_periods(schedule, steps)])


NTK_DROP_WINDOW = 500  # steps either side of a period boundary where the drop is looked for


def ntk_boundary_drops(ntk: np.ndarray, schedule: GammaSchedule, steps: int) -> np.ndarray:
    """At each period boundary b (the start of every period after the first, the final CE one included): 1 − the
    smallest NTK λ_max within ±NTK_DROP_WINDOW of b / its largest over the 1,000 steps before that window."""
    w = NTK_DROP_WINDOW
    bounds = [e for _, e in oscillating_periods(schedule, steps) if e + w < len(ntk)]
    return np.array([1 - ntk[b - w:b + w + 1].min() / ntk[b - w - 1000:b - w].max() for b in bounds])


def kendall_trend(values) -> tuple[float, float]:
    """(Kendall τ, two-sided p) of values against their order."""
    v = np.asarray(values, dtype=np.float64)
    res = stats.kendalltau(np.arange(len(v)), v)
    return float(res.statistic), float(res.pvalue)


def plain_ce_from(gamma: np.ndarray) -> int | None:
    """The first step of a stored run's final plain-CE phase (Γ ≡ 1 from there to the end), read off its stored Γ;
    None when the run ends emphasized (or is plain throughout)."""
    plain = np.all(np.asarray(gamma) == 1.0, axis=1)
    if plain.all() or not plain[-1]:
        return None
    return int(len(plain) - np.argmin(plain[::-1]))


def theil_sen_drop(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """The drop from the first to the last of `values` by the Theil–Sen slope over their order, with the slope's
    `confidence` interval: (drop, lower, upper); positive = falling."""
    v = np.asarray(values, dtype=np.float64)
    res = stats.theilslopes(v, np.arange(len(v)), alpha=confidence)
    span = len(v) - 1
    return -res.slope * span, -res.high_slope * span, -res.low_slope * span


# The accuracy staircase read off the paper's Fig. 4 (paper notes, item 4): t -> (low, high) of the paper's value.
PAPER_STAIRCASE = {10_000: (1 / 3, 1 / 3), 25_000: (0.78, 0.78), 30_000: (0.92, 0.92), 40_000: (0.95, 0.95),
                   60_000: (0.97, 0.98), 70_000: (1.0, 1.0)}
PAPER_STAIRCASE_TEXT = {10_000: "1/3", 25_000: "≈ 0.78", 30_000: "≈ 0.92", 40_000: "≈ 0.95", 60_000: "≈ 0.97–0.98",
                        70_000: "≈ 1.0 (after the final CE period)"}
# Fig. 4's other read-offs (paper notes, items 2, 5, 6): F's minima in the first and last period, λ_max in the final
# plain-CE period, the NTK's λ_max at the start and the end. Drawn on the book's Fig. 4, labelled "paper".
PAPER_F_MINIMA = (0.12, 0.03)
PAPER_HESSIAN_FINAL_CE = 1.5
PAPER_NTK = (100.0, 3000.0)
STAIRCASE_WINDOW = 1000  # ours: the median accuracy over the steps before t, so that a burst's dips do not decide it
STAIRCASE_TOLERANCE = 0.05  # a read-off agrees when ours is within this of the paper's value (or range)


def staircase(accuracy: np.ndarray) -> pd.DataFrame:
    """The paper's read-off accuracies next to ours (median over the STAIRCASE_WINDOW steps up to t) and whether they
    agree to STAIRCASE_TOLERANCE; the times the run reaches."""
    rows = []
    for t, (lo, hi) in PAPER_STAIRCASE.items():
        if t >= len(accuracy):
            continue
        ours = float(np.median(accuracy[max(t - STAIRCASE_WINDOW, 0):t + 1]))
        gap = max(lo - ours, ours - hi, 0.0)
        rows.append({"t": t, "paper (read off Fig. 4)": PAPER_STAIRCASE_TEXT[t], "ours": round(ours, 3),
                     "gap": round(gap, 3), f"within ±{STAIRCASE_TOLERANCE}": gap <= STAIRCASE_TOLERANCE})
    return pd.DataFrame(rows)


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
    least `min_growth`× within GROWTH_WINDOW steps), that growth, the stages of ΔF in order of first appearance
    (`cascade_stages`), the mid-period minimum of λ_max and the training accuracy at the period's end. `result` holds "objective", "accuracy", "hessian_max_steps", "hessian_max"."""
    periods = oscillating_periods(schedule, steps)
    onsets = {c.period: c for c in cascade_onsets(result["objective"], schedule)}
    stages = cascade_stages(result["objective"], schedule)
    minima = mid_period_minima(result["hessian_max_steps"], result["hessian_max"], schedule, steps)
    rows = []
    for p, (start, end) in enumerate(periods):
        c = onsets.get(p)
        grown = c is not None and c.growth >= min_growth
        rows.append({"period": p + 1, "steps": f"{start:,}–{end - 1:,}",
                     "cascade onset t": f"{c.onset:,}" if grown else "none",
                     "onset τ": f"{c.onset - start:,}" if grown else "—",
                     f"|ΔF| growth in {GROWTH_WINDOW} steps": f"{c.growth:,.0f}×" if c else "—",
                     "stages of ΔF (first τ)": stages[p].describe() if p < len(stages) else "—",
                     "mid-period min λ_max": round(float(minima[p]), 2),
                     "train acc. at period end": round(float(result["accuracy"][min(end, steps)]), 3)})
    return pd.DataFrame(rows)
