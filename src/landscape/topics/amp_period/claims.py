"""Claim of the amplitude × period chapter, from the stored `amp_period` sweep."""

from __future__ import annotations

import numpy as np

from ..sweeps.analysis import (data_splits, evaluation_frame, lr_note, paired_difference, per_seed, settings_of,
                               settled_pairs, states_of)
from ...settings import setting_label
from ...scorecard import claim, conjunction
from ...statistics import (MIN_SETTLED_PAIRS, MIN_SPLITS, OVERPARAMETERIZED, regime, state_counts, t_interval)

MIN_TRAIN_GAIN = 0.02  # the smallest training-accuracy gain that counts as the paper's effect
MIN_VALIDATION_GAIN = 0.01  # ... and validation-accuracy gain


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
                 "beats CE's validation accuracy with a paired t-interval above 0 over its pairs whose two runs settled "
                 f"(≥ {MIN_SETTLED_PAIRS}), at 95% after a Bonferroni correction for the number of cells, over "
                 f"≥ {MIN_SPLITS} data splits. Each half is not reproduced where every interval lies below the smallest "
                 f"gain that counts ({MIN_TRAIN_GAIN} training, {MIN_VALIDATION_GAIN} validation), else inconclusive; "
                 "reproduced: both halves; partly: one; a half not reproduced and none reproduced: not reproduced. "
                 "Every run is an evaluation run (no cell is picked before it is "
                 "read: the correction covers the pick)")
def amp_period_map(result):
    frame = evaluation_frame(result)
    settings = settings_of(result)
    ce = next(k for k, s in enumerate(settings) if s[1] == 1)
    dyn = [k for k, s in enumerate(settings) if s[1] > 1]
    parts, halves, values, reasons, effects = [], {}, {}, [], []
    for w in result["widths"].tolist():
        ce_train = float(per_seed(frame, w, ce, "train_accuracy").mean())
        if regime(ce_train) == "under":
            train_gain = {k: t_interval(paired_difference(frame, w, k, ce, "train_accuracy"), comparisons=len(dyn))
                          for k in dyn}
            wins = [k for k, (m, lo, hi) in train_gain.items() if lo > 0]
            best = max(dyn, key=lambda k: per_seed(frame, w, k, "train_accuracy").mean())
            halves["under"] = "reproduced" if len(wins) > len(dyn) / 2 else \
                "not reproduced" if all(hi < MIN_TRAIN_GAIN for m, lo, hi in train_gain.values()) else "inconclusive"
            states = state_counts(np.concatenate([states_of(frame, w, k, "train").to_numpy() for k in dyn]))
            parts.append(f"width {w} (under: CE training accuracy {ce_train:.2f}): {len(wins)} of {len(dyn)} cells "
                         f"train significantly better (Bonferroni for {len(dyn)} cells); best "
                         f"{setting_label(settings[best])} {per_seed(frame, w, best, 'train_accuracy').mean():.2f}; "
                         f"dynamical runs: {states}")
            reasons.append(f"w{w}: {len(wins)}/{len(dyn)} cells train better")
            values[f"w{w}"] = {"regime": "under", "ce_train": ce_train, "cells_better": len(wins), "cells": len(dyn)}
            m, lo, hi = train_gain[max(dyn, key=lambda k: train_gain[k][0])]
            effects.append({"label": f"width {w}, best cell, training", "estimate": m, "lower": lo, "upper": hi,
                            "threshold": MIN_TRAIN_GAIN, "unit": "training accuracy"})
        else:
            ce_val = float(per_seed(frame, w, ce, "validation_accuracy").mean())
            intervals, pairs = {}, {}
            for k in dyn:
                seeds = settled_pairs(frame, w, k, ce, "validation")
                pairs[k] = len(seeds)
                intervals[k] = t_interval(paired_difference(frame, w, k, ce, seeds=seeds), comparisons=len(dyn))
            readable = [k for k in dyn if pairs[k] >= MIN_SETTLED_PAIRS]
            significant = [k for k in readable if intervals[k][1] > 0]
            better = [k for k in readable if intervals[k][0] > 0]
            best = max(readable or dyn, key=lambda k: intervals[k][0])
            m, lo, hi = intervals[best]
            if significant:
                halves["over"] = "reproduced" if data_splits(result) >= MIN_SPLITS else "partly"
            elif readable and all(intervals[k][2] < MIN_VALIDATION_GAIN for k in readable):
                halves["over"] = "not reproduced"
            else:
                halves["over"] = "inconclusive"
            parts.append(f"width {w} (over: CE training accuracy {ce_train:.2f}, validation {ce_val:.3f}): "
                         f"{len(readable)} of {len(dyn)} cells with ≥ {MIN_SETTLED_PAIRS} settled pairs; "
                         f"{len(better)} have higher mean validation accuracy, {len(significant)} significantly after "
                         f"a Bonferroni correction for the {len(dyn)} cells "
                         f"({', '.join(setting_label(settings[k]) for k in significant) or 'none'}); highest mean "
                         f"{setting_label(settings[best])} {m:+.3f} [{lo:+.3f}, {hi:+.3f}]")
            reasons.append(f"w{w}: best cell {m:+.3f} [{lo:+.3f}, {hi:+.3f}] val.")
            effects.append({"label": f"width {w}, best cell, validation", "estimate": m, "lower": lo, "upper": hi,
                            "threshold": MIN_VALIDATION_GAIN, "unit": "validation accuracy"})
            values[f"w{w}"] = {"regime": "over", "ce_validation": ce_val, "cells_better": len(better),
                               "cells_significant": len(significant), "cells_readable": len(readable),
                               "best_difference": [m, lo, hi]}
    if set(halves) != {"under", "over"}:
        status = "partly" if "reproduced" in halves.values() else "not testable"
        parts.append("the stored widths do not cover both regimes")
    else:
        status = conjunction(halves.values())
    return status, "; ".join(parts), {**values, "halves": halves, "effects": effects}, \
        "; ".join(reasons) + f"; 2021 init, {lr_note(settings, [ce] + dyn)}"
