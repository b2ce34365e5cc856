"""Claims of the under- vs overparameterized chapter (ICML 2021 claims 1–2), from the stored `capacity` sweep."""

from __future__ import annotations

from ..sweeps.analysis import (converged_share, data_splits, evaluation_frame, paired_difference, per_seed,
                               selected_setting, settings_of, splits_note)
from ...settings import setting_label
from ...scorecard import claim, verdict
from ...statistics import CONVERGED_SHARE, MIN_SPLITS, OVERPARAMETERIZED, regime, t_interval

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
       criterion=f"at some width, with the dynamical setting picked on the selection runs (highest mean training "
                 f"accuracy): over the evaluation runs (other splits and seeds) ≥ {SEED_SHARE:.0%} of CE runs end below "
                 f"{FAILS_BELOW} training accuracy while ≥ {SEED_SHARE:.0%} of the same runs with the picked setting "
                 f"reach ≥ {TRAINS_AT_LEAST} → reproduced; the picked setting's paired gain in training accuracy has "
                 "a 95% t-interval above 0 at some width → partly")
def small_nets_rescued(result):
    frame = evaluation_frame(result)
    settings, ce, dyn = _ce_and_dynamical(result)
    rescued, better, closest = [], [], None
    for w in result["widths"].tolist():
        k = selected_setting(result, w, dyn, "train_accuracy")
        ce_acc = per_seed(frame, w, ce, "train_accuracy")
        acc = per_seed(frame, w, k, "train_accuracy")
        ce_fails = (ce_acc < FAILS_BELOW).mean() >= SEED_SHARE
        share = float((acc >= TRAINS_AT_LEAST).mean())
        if ce_fails and share >= SEED_SHARE:
            rescued.append((w, k, float(ce_acc.mean()), float(acc.mean()), float(acc.min())))
        if ce_fails and (closest is None or share > closest[2] or (share == closest[2] and acc.mean() > closest[4])):
            closest = (w, k, share, float(ce_acc.mean()), float(acc.mean()), len(acc))
        if t_interval(acc - ce_acc.loc[acc.index])[1] > 0:
            better.append((w, k))
    status = verdict(rescued, better)
    if rescued:
        ours = "; ".join(f"width {w}: CE {c:.2f} → {setting_label(settings[k])} {d:.2f} (lowest run {m:.2f})"
                         for w, k, c, d, m in rescued)
    elif closest is not None:
        w, k, share, c, d, n = closest
        ours = (f"no width where CE fails and the picked dynamical setting trains on ≥ {SEED_SHARE:.0%} of the "
                f"evaluation runs; closest: width {w}, mean training accuracy CE {c:.2f} → "
                f"{setting_label(settings[k])} {d:.2f}, {round(share * n)} of {n} runs ≥ {TRAINS_AT_LEAST}")
    else:
        ours = "CE does not fail at any width"
    ours += (f"; the picked setting raises training accuracy significantly at widths {sorted({w for w, _ in better})} "
             f"({len(frame.seed.unique())} evaluation runs on {data_splits(result)} splits)")
    return status, ours, {"rescued": [list(r) for r in rescued], "better": [list(b) for b in better],
                          "closest": list(closest) if closest else None}


@claim("dl.size.overparam_generalizes_better", kind="paper", title="Large networks: the dynamical loss generalizes better",
       chapter="capacity", needs=("capacity",),
       paper="In overparameterized networks the dynamical loss generalizes better than cross-entropy",
       source="ICML 2021 abstract, claim 2; Sec. 4 (CIFAR-10, wide Myrtle5)",
       criterion="at the largest width (overparameterized: CE's mean training accuracy ≥ "
                 f"{OVERPARAMETERIZED}), the dynamical setting picked on the selection runs (highest mean validation "
                 "accuracy) − CE in validation accuracy, paired over the evaluation runs (other splits and seeds): "
                 f"95% t-interval above 0, over ≥ {MIN_SPLITS} data splits, with ≥ {CONVERGED_SHARE:.0%} of the "
                 "compared runs converged → reproduced; mean above 0 but one of these missing → partly")
def overparam_generalizes_better(result):
    frame = evaluation_frame(result)
    settings, ce, dyn = _ce_and_dynamical(result)
    w = int(result["widths"][-1])
    ce_train = per_seed(frame, w, ce, "train_accuracy").mean()
    picked = selected_setting(result, w, dyn)
    diff = paired_difference(frame, w, picked, ce)
    mean, lo, hi = t_interval(diff)
    others = {setting_label(settings[k]): float(paired_difference(frame, w, k, ce).mean()) for k in dyn}
    ce_val = per_seed(frame, w, ce, "validation_accuracy").mean()
    converged = converged_share(frame, w, [ce, picked])
    values = {"width": w, "picked": setting_label(settings[picked]), "difference": mean, "ci": [lo, hi],
              "runs": len(diff), "splits": data_splits(result), "converged_share": converged,
              "every_setting_difference": others, "ce_train_accuracy": float(ce_train),
              "ce_validation_accuracy": float(ce_val)}
    ours = (f"width {w}: CE validation accuracy {ce_val:.3f} (training {ce_train:.3f}); picked on the selection "
            f"runs: {setting_label(settings[picked])}; its gain over CE on {len(diff)} evaluation runs "
            f"({values['splits']} splits) {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] (95% CI); "
            f"{converged:.0%} of the compared runs converged; every setting − CE: "
            + ", ".join(f"{k} {v:+.3f}" for k, v in others.items()))
    if regime(ce_train) == "under":
        return "not testable", ours + f" — CE does not fit the training set at width {w}, so this width is not " \
                                      "in the overparameterized regime", values
    ours += splits_note(result)
    if converged < CONVERGED_SHARE:
        ours += f"; fewer than {CONVERGED_SHARE:.0%} of the compared runs converged: the gain is read at the end of " \
                "the training budget, not at minima"
    ok = lo > 0 and values["splits"] >= MIN_SPLITS and converged >= CONVERGED_SHARE
    return verdict(ok, mean > 0), ours, values
