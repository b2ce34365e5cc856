"""Claims of the under- vs overparameterized chapter (ICML 2021 claims 1–2), from the stored `capacity` sweep."""

from __future__ import annotations

from ..sweeps.analysis import (best_setting, data_splits, final_frame, paired_difference, per_seed, settings_of,
                               splits_note)
from ...settings import setting_label
from ...scorecard import claim, verdict
from ...statistics import MIN_SPLITS, OVERPARAMETERIZED, regime, t_interval

FAILS_BELOW = 0.9  # training accuracy of a run that did not fit the spiral
TRAINS_AT_LEAST = 0.95  # training accuracy of a run that did
SEED_SHARE = 0.9  # "across seeds": at least this share of the seeds


def _ce_and_dynamical(result):
    settings = settings_of(result)
    ce = [k for k, s in enumerate(settings) if s[0] == "dce" and s[1] == 1]
    dyn = [k for k, s in enumerate(settings) if s[0] == "dce" and s[1] > 1]
    return settings, ce[0], dyn


@claim("dl.size.small_nets_rescued", kind="paper", title="Small networks: the dynamical loss finds minima cross-entropy misses",
       chapter="capacity", needs=("capacity",),
       paper="In underparameterized networks the dynamical loss finds deep minima that plain cross-entropy fails to "
             "find (spiral: CE stalls, the dynamical loss fits the data)",
       source="ICML 2021 abstract, claim 1; Sec. 4 and Fig. 4",
       criterion=f"a width where ≥ {SEED_SHARE:.0%} of CE seeds end below {FAILS_BELOW} training accuracy while, for "
                 f"one dynamical setting, ≥ {SEED_SHARE:.0%} of the same seeds reach ≥ {TRAINS_AT_LEAST}")
def small_nets_rescued(result):
    frame = final_frame(result)
    settings, ce, dyn = _ce_and_dynamical(result)
    rescued, better, closest = [], [], None
    for w in result["widths"].tolist():
        ce_acc = per_seed(frame, w, ce, "train_accuracy")
        ce_fails = (ce_acc < FAILS_BELOW).mean() >= SEED_SHARE
        for k in dyn:
            acc = per_seed(frame, w, k, "train_accuracy")
            share = float((acc >= TRAINS_AT_LEAST).mean())
            if ce_fails and share >= SEED_SHARE:
                rescued.append((w, k, float(ce_acc.mean()), float(acc.mean()), float(acc.min())))
            if ce_fails and (closest is None or share > closest[2] or
                             (share == closest[2] and acc.mean() > closest[4])):
                closest = (w, k, share, float(ce_acc.mean()), float(acc.mean()), len(acc))
            diff = t_interval(acc - ce_acc.loc[acc.index])
            if diff[1] > 0:
                better.append((w, k))
    status = verdict(rescued, better)
    if rescued:
        ours = "; ".join(f"width {w}: CE {c:.2f} → {setting_label(settings[k])} {d:.2f} (lowest seed {m:.2f})"
                         for w, k, c, d, m in rescued)
    elif closest is not None:
        w, k, share, c, d, n = closest
        ours = (f"no width where CE fails and a dynamical setting trains on ≥ {SEED_SHARE:.0%} of seeds; closest: "
                f"width {w}, mean training accuracy CE {c:.2f} → {setting_label(settings[k])} {d:.2f}, "
                f"{round(share * n)} of {n} seeds ≥ {TRAINS_AT_LEAST}")
    else:
        ours = "CE does not fail at any width"
    ours = ours + \
        f"; the dynamical loss raises training accuracy significantly at widths {sorted({w for w, _ in better})}"
    return status, ours, {"rescued": [list(r) for r in rescued], "better": [list(b) for b in better],
                          "closest": list(closest) if closest else None}


@claim("dl.size.overparam_generalizes_better", kind="paper", title="Large networks: the dynamical loss generalizes better",
       chapter="capacity", needs=("capacity",),
       paper="In overparameterized networks the dynamical loss generalizes better than cross-entropy",
       source="ICML 2021 abstract, claim 2; Sec. 4 (CIFAR-10, wide Myrtle5)",
       criterion="at the largest width (overparameterized: CE's mean training accuracy ≥ "
                 f"{OVERPARAMETERIZED}), validation accuracy of the best of the k dynamical settings − CE, paired by "
                 "seed: its 95% t-interval, Bonferroni-corrected for the k settings it was picked from, lies above 0, "
                 "and the setting picked on seeds of one half still beats CE on the other, over ≥ "
                 f"{MIN_SPLITS} data splits (fewer splits: partly at best)")
def overparam_generalizes_better(result):
    frame = final_frame(result)
    settings, ce, dyn = _ce_and_dynamical(result)
    w = int(result["widths"][-1])
    ce_train = per_seed(frame, w, ce, "train_accuracy").mean()
    seeds = sorted(frame.seed.unique())
    half_a, half_b = seeds[: len(seeds) // 2], seeds[len(seeds) // 2:]
    best = best_setting(frame, w, dyn)
    diff = paired_difference(frame, w, best, ce)
    mean, lo, hi = t_interval(diff, comparisons=len(dyn))  # best of len(dyn): corrected for the pick
    held_out = []
    for pick, test in ((half_a, half_b), (half_b, half_a)):
        k = best_setting(frame, w, dyn, seeds=pick)
        held_out.append(float(paired_difference(frame, w, k, ce, seeds=test).mean()))
    worst = min(dyn, key=lambda k: per_seed(frame, w, k, "validation_accuracy").mean())
    worst_diff = float(paired_difference(frame, w, worst, ce).mean())
    ce_val = per_seed(frame, w, ce, "validation_accuracy").mean()
    not_converged = int((~frame[(frame.width == w) & frame.setting.isin([ce, best])].converged).sum())
    values = {"width": w, "best": setting_label(settings[best]), "difference": mean, "ci": [lo, hi],
              "comparisons": len(dyn), "runs_not_converged": not_converged,
              "held_out_differences": held_out, "worst_setting_difference": worst_diff,
              "ce_train_accuracy": float(ce_train), "ce_validation_accuracy": float(ce_val)}
    ours = (f"width {w}: CE validation accuracy {ce_val:.3f} (training {ce_train:.3f}); best dynamical "
            f"({setting_label(settings[best])}) − CE = {mean:+.3f}, 95% CI Bonferroni-corrected for the {len(dyn)} "
            f"settings [{lo:+.3f}, {hi:+.3f}] over {len(diff)} seeds ({not_converged} of the {2 * len(diff)} runs "
            f"compared not converged); picked on one half of the seeds, tested on the other: {held_out[0]:+.3f}, {held_out[1]:+.3f}; "
            f"worst dynamical setting − CE = {worst_diff:+.3f}")
    if regime(ce_train) == "under":
        return "not testable", ours + f" — CE does not fit the training set at width {w}, so this width is not " \
                                      "in the overparameterized regime", values
    values["splits"] = data_splits(result)
    ours += splits_note(result)
    return verdict(lo > 0 and min(held_out) > 0 and values["splits"] >= MIN_SPLITS, hi >= 0 and mean > 0), ours, values
