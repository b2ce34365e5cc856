"""The book's statistics, fixed in code before the data were read: intervals, the correction for several
comparisons, one definition of the under- and overparameterized regimes, what a run's final value is, the state of a
run at the end of its training (settled, stuck, diverged, still learning), and the rules that turn an effect and its
interval into a status. Every claim reads its thresholds from here (tests/test_statistics.py pins them on made-up
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


def bonferroni(comparisons: int, confidence: float = CONFIDENCE) -> float:
    """The confidence of each of `comparisons` intervals so that all hold together at `confidence` (Bonferroni)."""
    if comparisons < 1:
        raise ValueError(f"comparisons={comparisons} is not allowed: comparisons must be >= 1")
    return 1 - (1 - confidence) / comparisons


def t_interval(values, confidence: float = CONFIDENCE, comparisons: int = 1, axis: int | None = None):
    """(mean, lower, upper) of a Student-t interval for the mean (NaN dropped), Bonferroni-corrected for
    `comparisons` intervals read together (a best-of-k read-out is k comparisons) — the book's one interval.

    `axis=None`: over all values, as floats. `axis=k`: one interval per position of the other axes (arrays), each
    over the finite values along axis k. No finite value: NaN; one: the interval is that value (mean = lower =
    upper)."""
    v = np.asarray(values, dtype=np.float64)
    flat = axis is None
    if flat:
        v, axis = v[np.isfinite(v)], 0  # 1-D, finite
    finite = np.isfinite(v)
    n = finite.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, v, 0.0).sum(axis=axis) / n  # NaN where n = 0
        deviation = np.where(finite, v - np.expand_dims(mean, axis), 0.0)
        sd = np.sqrt((deviation * deviation).sum(axis=axis) / (n - 1))
        t = stats.t.ppf(0.5 + bonferroni(comparisons, confidence) / 2, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * sd / np.sqrt(n), 0.0)
    lower, upper = mean - half, mean + half
    if flat:
        return float(mean), float(lower), float(upper)
    return mean, lower, upper


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


# ---------------------------------------------------------------------------------------------------- run states
SETTLED, STUCK, DIVERGED, LEARNING = "settled", "stuck", "diverged", "still learning"
RUN_STATES = (SETTLED, STUCK, DIVERGED, LEARNING)
STATE_WINDOW = 0.10  # a run's state is read over the last 10 % of its steps, first half of the window vs second
FITTED = 0.99  # the training set counts as fitted where the window-mean training accuracy reaches this
STUCK_LOSS_FRACTION = 0.5  # unfitted, with a flat training loss ≥ this × the plateau loss (ln C for CE): stuck
DIVERGED_LOSS_FACTOR = 10.0  # a training loss this many times its value at step 0: diverged
LOSS_RTOL = 0.05  # a loss is flat when its two half-window means differ by at most this, relatively
ACCURACY_SE = 1.0  # an accuracy is stable when its half-window means differ by at most this many binomial SEs
CHANCE_MARGIN = 0.05  # an accuracy within this of 1/C is at chance


def _halves(curve, steps, axis):
    """(mean over the first half, mean over the second half) of the records in the last STATE_WINDOW of steps."""
    steps = np.asarray(steps)
    window = np.nonzero(steps >= (1 - STATE_WINDOW) * steps[-1])[0]
    if len(window) < 2:
        window = np.arange(max(len(steps) - 2, 0), len(steps))
    half = len(window) // 2
    first, second = window[:half], window[half:]
    take = lambda idx: np.take(np.asarray(curve, dtype=np.float64), idx, axis=axis).mean(axis=axis)
    return take(first), take(second)


def binomial_se(accuracy, samples: int):
    """The binomial standard error of an accuracy measured on `samples` points (at least 1/samples: a perfect or
    zero accuracy still moves by one point)."""
    a = np.asarray(accuracy, dtype=np.float64)
    return np.maximum(np.sqrt(np.clip(a * (1 - a), 0, None) / samples), 1.0 / samples)


def run_states(train_loss, train_accuracy, steps, *, plateau_loss: float, num_classes: int, compared=None,
               compared_samples: int | None = None, axis: int = 0) -> np.ndarray:
    """The state of each run at the end of its training, judged by what a claim compares (RUN_STATES):

    - "diverged": a non-finite training loss in the window, a final loss ≥ DIVERGED_LOSS_FACTOR × its step-0
      value, or a training accuracy at chance with the loss growing;
    - "stuck": the training set not fitted (window-mean accuracy < FITTED) and the training loss flat on a plateau
      at ≥ STUCK_LOSS_FRACTION × `plateau_loss` (ln C for cross-entropy: the net has learned little);
    - "still learning": the compared quantity still trending over the window — an accuracy (`compared`, measured on
      `compared_samples` points) whose two half-window means differ by more than ACCURACY_SE binomial SEs, or, with
      `compared` None, the training loss moving by more than LOSS_RTOL unless the training set is fitted (a
      cross-entropy loss falling like 1/t on a fitted set is settled);
    - "settled": everything else — the quantity the claim compares no longer moves.

    Curves have the records along `axis`; returns an array of state strings over the other axes."""
    steps = np.asarray(steps)
    loss = np.moveaxis(np.asarray(train_loss, dtype=np.float64), axis, 0)
    acc = np.moveaxis(np.asarray(train_accuracy, dtype=np.float64), axis, 0)
    l1, l2 = _halves(loss, steps, 0)
    a1, a2 = _halves(acc, steps, 0)
    window = steps >= (1 - STATE_WINDOW) * steps[-1]
    finite = np.isfinite(loss[window]).all(axis=0) & np.isfinite(loss[0])
    start = np.abs(loss[0])
    with np.errstate(invalid="ignore"):
        flat = np.abs(l2 - l1) <= LOSS_RTOL * np.abs(l1)
        growing = l2 > l1 * (1 + LOSS_RTOL)
        at_chance = a2 <= 1.0 / num_classes + CHANCE_MARGIN
        diverged = ~finite | (l2 >= DIVERGED_LOSS_FACTOR * start) | (at_chance & growing)
        fitted = a2 >= FITTED
        stuck = ~fitted & flat & (l2 >= STUCK_LOSS_FRACTION * plateau_loss)
        if compared is None:
            trending = ~flat & ~fitted
        else:
            c = np.moveaxis(np.asarray(compared, dtype=np.float64), axis, 0)
            c1, c2 = _halves(c, steps, 0)
            trending = np.abs(c2 - c1) > ACCURACY_SE * binomial_se((c1 + c2) / 2, compared_samples)
    states = np.full(l2.shape, SETTLED, dtype=object)
    states[trending] = LEARNING
    states[stuck] = STUCK
    states[diverged] = DIVERGED
    return states.astype(str)


def state_counts(states) -> str:
    """'9 settled, 3 stuck': the states of some runs, in RUN_STATES order, zeros left out."""
    states = np.asarray(states).ravel()
    return ", ".join(f"{int((states == s).sum())} {s}" for s in RUN_STATES if (states == s).any()) or "no runs"


# ------------------------------------------------------------------------------------------- effects and status
MIN_SETTLED_PAIRS = 6  # a paired comparison of minima needs this many pairs with both runs settled
BASELINE_MARGIN = 0.15  # a baseline whose mean validation accuracy is this far below CE's on the same nets is invalid


def effect_status(lower: float, upper: float, min_effect: float) -> str:
    """The status of an effect that the paper claims to be positive, from its interval [lower, upper] and the
    smallest effect that would count as the paper's (fixed with the claim, before the data): an interval entirely
    below `min_effect` excludes the paper's effect → "not reproduced"; one above 0 → "reproduced"; one that holds
    both 0 and `min_effect` → "inconclusive" (the data could not decide)."""
    if not (np.isfinite(lower) and np.isfinite(upper)):
        return "inconclusive"
    if upper < min_effect:
        return "not reproduced"
    if lower > 0:
        return "reproduced"
    return "inconclusive"


def runs_to_decide(n: int, lower: float, upper: float, min_effect: float) -> int:
    """About how many paired runs would make an inconclusive interval decide: the half-width shrinks like 1/√n, and
    it decides once it is under min_effect / 2 (it can no longer hold both 0 and min_effect)."""
    half = (upper - lower) / 2
    if not np.isfinite(half) or half <= 0 or n < 1:
        return n
    return int(np.ceil(n * (half / (min_effect / 2)) ** 2))


def baseline_valid(baseline_accuracy: float, reference_accuracy: float) -> bool:
    """A baseline learned when its mean validation accuracy is within BASELINE_MARGIN of the reference's (plain
    CE on the same nets and splits); a comparison with one that did not is "baseline invalid"."""
    return bool(baseline_accuracy >= reference_accuracy - BASELINE_MARGIN)
