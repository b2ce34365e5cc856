"""The book's statistics, fixed in code before the data were read: intervals, the correction for several
comparisons, one definition of the under- and overparameterized regimes, what a run's final value is, and when a
run counts as converged. Every claim reads its thresholds from here (tests/test_statistics.py pins them on made-up
results)."""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95  # every interval in the book, before a multiple-comparison correction
OVERPARAMETERIZED = 0.99  # a width is overparameterized where CE's seed-mean final training accuracy reaches this
CLEARLY_UNDERPARAMETERIZED = 0.8  # ... and clearly underparameterized where it stays below this
READOUT_FRACTION = 0.05  # a run's final value: the mean of its records over the last 5 % of its steps
CONVERGENCE_WINDOW = 0.10  # a run has converged when its loss no longer moves over the last 10 % of training:
CONVERGENCE_RTOL, CONVERGENCE_ATOL = 0.05, 1e-3  # |final − value at 90 %| ≤ ATOL + RTOL · |value at 90 %|
CONVERGED_SHARE = 0.9  # a cell of runs (one width, one setting) is read as a minimum only if this share converged
MIN_SPLITS = 3  # a generalization claim is reproduced only over at least this many data splits (and seeds)
REGIMES = ("under", "over")


def bonferroni(comparisons: int, confidence: float = CONFIDENCE) -> float:
    """The confidence of each of `comparisons` intervals so that all hold together at `confidence` (Bonferroni)."""
    if comparisons < 1:
        raise ValueError(f"comparisons={comparisons} is not allowed: comparisons must be >= 1")
    return 1 - (1 - confidence) / comparisons


def t_interval(values, confidence: float = CONFIDENCE, comparisons: int = 1) -> tuple[float, float, float]:
    """(mean, lower, upper) of a Student-t interval for the mean (NaN dropped), Bonferroni-corrected for
    `comparisons` intervals read together (a best-of-k read-out is k comparisons)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, mean, mean
    level = bonferroni(comparisons, confidence)
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def regime(ce_train_accuracy: float) -> str:
    """"over" where plain CE fits the training set (seed-mean final training accuracy ≥ OVERPARAMETERIZED), else
    "under" — the one definition used by every chapter."""
    return "over" if ce_train_accuracy >= OVERPARAMETERIZED else "under"


def readout_mask(steps) -> np.ndarray:
    """The records that make a run's final value: steps ≥ (1 − READOUT_FRACTION) · last step (at least the last)."""
    steps = np.asarray(steps)
    mask = steps >= (1 - READOUT_FRACTION) * steps[-1]
    mask[-1] = True
    return mask


def readout(curve, steps, axis: int = 0) -> np.ndarray:
    """A run's final value: the mean of `curve` over `readout_mask(steps)` along `axis` (the records' axis); NaN
    where the run diverged in the window."""
    curve = np.asarray(curve, dtype=np.float64)
    return np.compress(readout_mask(steps), curve, axis=axis).mean(axis=axis)


def still_moving(curve, steps, axis: int = 0) -> np.ndarray:
    """True where the loss `curve` still moves over the last CONVERGENCE_WINDOW of training: its final value
    (`readout`) differs from its value at the first record at or after (1 − CONVERGENCE_WINDOW) · last step by more
    than CONVERGENCE_ATOL + CONVERGENCE_RTOL · |that value|. A diverged run (NaN) counts as moving."""
    steps = np.asarray(steps)
    curve = np.asarray(curve, dtype=np.float64)
    start = int(np.argmax(steps >= (1 - CONVERGENCE_WINDOW) * steps[-1]))
    before = np.take(curve, start, axis=axis)
    after = readout(curve, steps, axis)
    moving = np.abs(after - before) > CONVERGENCE_ATOL + CONVERGENCE_RTOL * np.abs(before)
    return moving | ~np.isfinite(after) | ~np.isfinite(before)
