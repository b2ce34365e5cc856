"""Claim of the amplitude × period chapter, from the stored `amp_period` sweep."""

from __future__ import annotations

from ..sweeps.analysis import (converged_share, data_splits, evaluation_frame, paired_difference, per_seed,
                               settings_of, splits_note)
from ...settings import setting_label
from ...scorecard import claim, verdict
from ...statistics import MIN_SPLITS, OVERPARAMETERIZED, regime, t_interval


@claim("dl.amp_period.map", kind="paper", title="The gains hold over a range of amplitudes A and periods T",
       chapter="amp_period", needs=("amp_period",),
       paper="Training and validation accuracy as functions of the amplitude A and the period T (Myrtle5 on "
             "CIFAR-10): in the underparameterized regime the dynamical loss raises the training accuracy, in the "
             "overparameterized regime it raises the validation accuracy, over a range of (A, T)",
       source="ICML 2021 Sec. 4 (CIFAR-10 figures; grid and values not known to us)",
       criterion=f"underparameterized width (CE below {OVERPARAMETERIZED} training accuracy): more than half of the "
                 "(A > 1, T) cells beat CE's training accuracy with a paired t-interval above 0, at 95% after a "
                 "Bonferroni correction for the number of cells; overparameterized width "
                 f"(CE ≥ {OVERPARAMETERIZED}): at least one cell "
                 "beats CE's validation accuracy with a paired t-interval above 0, at 95% after a Bonferroni correction for "
                 f"the number of cells, over ≥ {MIN_SPLITS} data splits. Every run is an evaluation run (no cell is "
                 "picked before it is read: the correction covers the pick)")
def amp_period_map(result):
    frame = evaluation_frame(result)
    settings = settings_of(result)
    ce = next(k for k, s in enumerate(settings) if s[1] == 1)
    dyn = [k for k, s in enumerate(settings) if s[1] > 1]
    parts, checks, values = [], [], {}
    for w in result["widths"].tolist():
        ce_train = float(per_seed(frame, w, ce, "train_accuracy").mean())
        if regime(ce_train) == "under":
            train_gain = {k: t_interval(paired_difference(frame, w, k, ce, "train_accuracy"), comparisons=len(dyn))
                          for k in dyn}
            wins = [k for k, (m, lo, hi) in train_gain.items() if lo > 0]
            best = max(dyn, key=lambda k: per_seed(frame, w, k, "train_accuracy").mean())
            ok = len(wins) > len(dyn) / 2
            parts.append(f"width {w} (under: CE training accuracy {ce_train:.2f}): {len(wins)} of {len(dyn)} cells "
                         f"train significantly better (Bonferroni for {len(dyn)} cells); best "
                         f"{setting_label(settings[best])} {per_seed(frame, w, best, 'train_accuracy').mean():.2f}; "
                         f"{converged_share(frame, w, dyn):.0%} of the dynamical runs converged")
            values[f"w{w}"] = {"regime": "under", "ce_train": ce_train, "cells_better": len(wins), "cells": len(dyn)}
        else:
            ce_val = float(per_seed(frame, w, ce, "validation_accuracy").mean())
            intervals = {k: t_interval(paired_difference(frame, w, k, ce), comparisons=len(dyn)) for k in dyn}
            significant = [k for k, (m, lo, hi) in intervals.items() if lo > 0]
            better = [k for k, (m, lo, hi) in intervals.items() if m > 0]
            best = max(dyn, key=lambda k: intervals[k][0])
            m, lo, hi = intervals[best]
            ok = bool(significant) and data_splits(result) >= MIN_SPLITS
            if significant and not ok:
                parts.append(splits_note(result)[2:])
            parts.append(f"width {w} (over: CE training accuracy {ce_train:.2f}, validation {ce_val:.3f}): "
                         f"{len(better)} of {len(dyn)} cells have higher mean validation accuracy, {len(significant)} "
                         f"significantly after a Bonferroni correction for the {len(dyn)} cells "
                         f"({', '.join(setting_label(settings[k]) for k in significant) or 'none'}); highest mean {setting_label(settings[best])} {m:+.3f} [{lo:+.3f}, {hi:+.3f}]")
            values[f"w{w}"] = {"regime": "over", "ce_validation": ce_val, "cells_better": len(better),
                               "cells_significant": len(significant), "best_difference": [m, lo, hi]}
        checks.append(ok)
    regimes = {v["regime"] for v in values.values()}
    if regimes != {"under", "over"}:
        status = "not testable" if not any(checks) else "partly"
        parts.append("the stored widths do not cover both regimes")
    else:
        status = verdict(all(checks), any(checks))
    return status, "; ".join(parts), values
