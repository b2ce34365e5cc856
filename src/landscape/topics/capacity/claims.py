"""Claims of the under- vs overparameterized chapter (ICML 2021 claims 1–2, and the follow-up's "largest for small
networks" for the dynamical cross-entropy), from the stored `capacity` sweep."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..sweeps.analysis import (data_splits, evaluation_frame, lr_note, paired_difference, per_seed,
                               selected_setting, settings_of, settled_pairs, states_of)
from ...settings import setting_label
from ...scorecard import claim, verdict
from ...statistics import (CONFIDENCE, DIVERGED, LEARNING, MIN_SETTLED_PAIRS, MIN_SPLITS, OVERPARAMETERIZED,
                           bonferroni, effect_status, regime, runs_to_decide, state_counts, t_interval)

FAILS_BELOW = 0.9  # training accuracy of a CE run that did not fit the spiral
TRAINS_AT_LEAST = 0.95  # training accuracy of a run that did
MIN_FAILED = 6  # a width is read for rescue only where at least this many CE runs failed
RESCUED_SHARE = 0.5  # reproduced: the lower confidence bound of the rescued share of CE's failures is above this
MIN_VALIDATION_GAIN = 0.01  # the smallest validation gain that counts as the paper's effect: 1 point


def _ce_and_dynamical(result):
    settings = settings_of(result)
    ce = [k for k, s in enumerate(settings) if s[0] == "dce" and s[1] == 1]
    dyn = [k for k, s in enumerate(settings) if s[0] == "dce" and s[1] > 1]
    return settings, ce[0], dyn


def rescue_at(frame, w, ce, k):
    """(CE failures, rescued) at one width: CE runs below FAILS_BELOW in training accuracy that ended stuck or
    settled (a run still learning has not failed yet; a diverged one is broken), and of those the runs (same seed)
    whose setting-k twin reached TRAINS_AT_LEAST without diverging."""
    ce_acc, ce_state = per_seed(frame, w, ce, "train_accuracy"), states_of(frame, w, ce, "train")
    acc, state = per_seed(frame, w, k, "train_accuracy"), states_of(frame, w, k, "train")
    failed = [s for s in ce_acc.index if ce_acc[s] < FAILS_BELOW and ce_state[s] not in (LEARNING, DIVERGED)]
    rescued = [s for s in failed if acc[s] >= TRAINS_AT_LEAST and state[s] != DIVERGED]
    return failed, rescued


def share_lower_bound(successes: int, trials: int, comparisons: int = 1) -> float:
    """One-sided Clopper–Pearson lower bound of a share at CONFIDENCE, Bonferroni-corrected for `comparisons`."""
    if trials == 0 or successes == 0:
        return 0.0
    alpha = 1 - bonferroni(comparisons, CONFIDENCE)
    return float(stats.beta.ppf(alpha, successes, trials - successes + 1))


@claim("dl.size.small_nets_rescued", kind="paper", title="Small networks: the dynamical loss finds minima cross-entropy misses",
       chapter="capacity", needs=("capacity",),
       paper="In underparameterized networks the dynamical loss finds deep minima that plain cross-entropy fails to "
             "find (spiral: CE stalls, the dynamical loss fits the data)",
       source="ICML 2021 abstract, claim 1; Sec. 4 and Fig. 4",
       criterion=f"per width, the dynamical setting picked on the selection runs (highest mean training accuracy); on "
                 f"the evaluation runs, CE's failures (training accuracy < {FAILS_BELOW}, the run stuck or settled, "
                 f"not still learning) and the share of them whose twin run (same split and initial weights) with the "
                 f"picked setting reaches ≥ {TRAINS_AT_LEAST}: at a width with ≥ {MIN_FAILED} failures, the share's "
                 f"one-sided Clopper–Pearson lower bound (95 %, Bonferroni for the widths read) above "
                 f"{RESCUED_SHARE} → reproduced; the picked setting's paired training gain has a 95 % t-interval "
                 "above 0 at some width → partly")
def small_nets_rescued(result):
    frame = evaluation_frame(result)
    settings, ce, dyn = _ce_and_dynamical(result)
    per_width = {}
    for w in result["widths"].tolist():
        k = selected_setting(result, w, dyn, "train_accuracy")
        failed, rescued = rescue_at(frame, w, ce, k)
        gain = t_interval(paired_difference(frame, w, k, ce, "train_accuracy"))
        per_width[w] = {"picked": setting_label(settings[k]), "failed": len(failed), "rescued": len(rescued),
                        "runs": int(len(per_seed(frame, w, ce, "train_accuracy"))), "train_gain": list(gain)}
    read = [w for w, v in per_width.items() if v["failed"] >= MIN_FAILED]
    for w in read:
        per_width[w]["lower_bound"] = share_lower_bound(per_width[w]["rescued"], per_width[w]["failed"], len(read))
    rescued = [w for w in read if per_width[w]["lower_bound"] > RESCUED_SHARE]
    better = [w for w, v in per_width.items() if v["train_gain"][1] > 0]
    ours = "; ".join(f"w{w}: {v['rescued']} of {v['failed']} CE failures rescued by {v['picked']}"
                     + (f" (lower bound {v['lower_bound']:.2f})" if "lower_bound" in v else "")
                     for w, v in per_width.items() if v["failed"])
    ours = (ours or "CE fails at no width") + (f"; the picked setting trains significantly better at widths {better}; "
                                               f"{per_width[read[0]]['runs'] if read else len(frame.seed.unique())} "
                                               f"evaluation runs per cell, 2021 init, {lr_note(settings, [ce] + dyn)}")
    if not read:
        return "not testable", ours, {"widths": per_width}, "CE fails in fewer than " \
            f"{MIN_FAILED} runs at every width: nothing to rescue"
    best = max(read, key=lambda w: (per_width[w]["lower_bound"], per_width[w]["rescued"]))
    v = per_width[best]
    reason = (f"width {best}: {v['rescued']} of {v['failed']} CE failures rescued (lower bound {v['lower_bound']:.2f} "
              f"vs {RESCUED_SHARE}); 2021 init, {lr_note(settings, [ce] + dyn)}")
    return verdict(bool(rescued), bool(better)), ours, {"widths": per_width, "rescued_widths": rescued,
                                                        "better_widths": better}, reason


def _gain(frame, w, k, ce):
    """(mean, lower, upper, pairs) of the validation gain of setting k over CE at width w over the settled pairs."""
    seeds = settled_pairs(frame, w, k, ce, "validation")
    return (*t_interval(paired_difference(frame, w, k, ce, seeds=seeds)), len(seeds))


@claim("dl.size.overparam_generalizes_better", kind="paper", title="Large networks: the dynamical loss generalizes better",
       chapter="capacity", needs=("capacity",),
       paper="In overparameterized networks the dynamical loss generalizes better than cross-entropy",
       source="ICML 2021 abstract, claim 2; Sec. 4 (CIFAR-10, wide Myrtle5)",
       criterion="at the largest width (overparameterized: CE's mean training accuracy ≥ "
                 f"{OVERPARAMETERIZED}), the dynamical setting picked on the selection runs (highest mean validation "
                 "accuracy) − CE in validation accuracy, paired over the evaluation runs whose two runs both settled "
                 f"(≥ {MIN_SETTLED_PAIRS} pairs): 95 % t-interval above 0 over ≥ {MIN_SPLITS} data splits → "
                 f"reproduced; entirely below {MIN_VALIDATION_GAIN} (the smallest gain that counts) → not "
                 "reproduced; holding both → inconclusive")
def overparam_generalizes_better(result):
    frame = evaluation_frame(result)
    settings, ce, dyn = _ce_and_dynamical(result)
    w = int(result["widths"][-1])
    ce_train = float(per_seed(frame, w, ce, "train_accuracy").mean())
    picked = selected_setting(result, w, dyn)
    mean, lo, hi, pairs = _gain(frame, w, picked, ce)
    runs = len(per_seed(frame, w, ce, "validation_accuracy"))
    states = state_counts(np.concatenate([states_of(frame, w, k, "validation").to_numpy() for k in (ce, picked)]))
    values = {"width": w, "picked": setting_label(settings[picked]), "difference": mean, "ci": [lo, hi],
              "pairs": pairs, "runs": runs, "splits": data_splits(result), "states": states,
              "ce_train_accuracy": ce_train,
              "ce_validation_accuracy": float(per_seed(frame, w, ce, "validation_accuracy").mean()),
              "effect": {"estimate": mean, "lower": lo, "upper": hi, "threshold": MIN_VALIDATION_GAIN,
                         "unit": "validation accuracy"}}
    ours = (f"width {w}: CE training accuracy {ce_train:.3f}, validation {values['ce_validation_accuracy']:.3f}; "
            f"picked on the selection runs: {values['picked']}; its validation gain over CE on {pairs} settled pairs "
            f"of {runs} evaluation runs ({values['splits']} splits): {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] (95 % CI); "
            f"run states (both losses): {states}")
    if regime(ce_train) == "under":
        return "not testable", ours, values, f"CE does not fit at width {w} ({ce_train:.2f}): not overparameterized"
    if pairs < MIN_SETTLED_PAIRS:
        return "inconclusive", ours, values, f"width {w}: only {pairs} of {runs} pairs settled in validation accuracy"
    status = effect_status(lo, hi, MIN_VALIDATION_GAIN)
    if status == "reproduced" and values["splits"] < MIN_SPLITS:
        status = "partly"
    reason = f"width {w}: {values['picked']} − CE {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] on {pairs} settled pairs"
    if status == "inconclusive":
        reason += f"; ≈ {runs_to_decide(pairs, lo, hi, MIN_VALIDATION_GAIN)} pairs would decide"
    return status, ours, values, reason


@claim("dl.followup.dce_gain_largest_small", kind="paper", title="The dynamical cross-entropy helps small networks most",
       chapter="capacity", needs=("capacity",),
       paper="The improvement in validation accuracy brought by the dynamical losses is largest for small networks "
             "(here: the dynamical cross-entropy, DCE, against CE across widths)",
       source="Lavin & Ruiz-Garcia 2024, abstract",
       criterion="per width, the dynamical setting picked on the selection runs (highest mean validation accuracy) "
                 "and its paired validation gain over CE on the evaluation runs; among the underparameterized "
                 f"widths (CE below {OVERPARAMETERIZED} training accuracy) the one with the largest mean gain, and "
                 "its gain minus the largest width's gain, paired by run (same split and seed index), with a 95 % "
                 "t-interval Bonferroni-corrected for the underparameterized widths: above 0 → reproduced; "
                 f"entirely below {MIN_VALIDATION_GAIN} → not reproduced; else inconclusive")
def dce_gain_largest_small(result):
    frame = evaluation_frame(result)
    settings, ce, dyn = _ce_and_dynamical(result)
    widths = [int(w) for w in result["widths"].tolist()]
    large = widths[-1]
    gains = {}
    for w in widths:
        k = selected_setting(result, w, dyn)
        gains[w] = (k, paired_difference(frame, w, k, ce))
    under = [w for w in widths[:-1] if regime(float(per_seed(frame, w, ce, "train_accuracy").mean())) == "under"]
    means = {w: float(np.mean(g)) for w, (_, g) in gains.items()}
    ours = "validation gain of the picked setting over CE: " + ", ".join(f"w{w} {means[w]:+.3f}" for w in widths)
    values = {"gains": {f"w{w}": means[w] for w in widths}, "under_widths": under}
    if not under:
        return "not testable", ours, values, "no underparameterized width below the largest"
    small = max(under, key=means.get)
    diff = gains[small][1] - gains[large][1]
    mean, lo, hi = t_interval(diff, comparisons=len(under))
    values.update(small=small, large=large, difference=[mean, lo, hi],
                  effect={"estimate": mean, "lower": lo, "upper": hi, "threshold": MIN_VALIDATION_GAIN,
                          "unit": "validation accuracy"})
    status = effect_status(lo, hi, MIN_VALIDATION_GAIN)
    reason = (f"gain at width {small} {means[small]:+.3f} vs width {large} {means[large]:+.3f}: difference "
              f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]; 2021 init, {lr_note(settings, [ce] + dyn)}")
    return status, ours + f"; width {small} − width {large}: {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]", values, reason
