"""Claim of the image chapter (the ICML paper's CIFAR-10 experiment, on MNIST-1D), from the stored `image` result."""

from __future__ import annotations

from ..sweeps.analysis import data_splits, final_frame, paired_difference, per_seed, settings_of, splits_note
from ...settings import setting_label
from ...scorecard import claim, verdict
from ...statistics import MIN_SPLITS, OVERPARAMETERIZED, regime, t_interval


@claim("dl.image.mnist1d", kind="paper", title="Both effects with a CNN on images (MNIST-1D here)",
       chapter="image", needs=("image",),
       paper="With a Myrtle5 CNN on CIFAR-10, the dynamical loss trains underparameterized (narrow) networks better "
             "and makes overparameterized (wide) ones generalize better than cross-entropy",
       source="ICML 2021 abstract, claims 1–2; Sec. 4 (CIFAR-10 protocol not known to us; here MNIST-1D, 1-D convs)",
       criterion="paired by seed: at some underparameterized width (CE's training accuracy below "
                 f"{OVERPARAMETERIZED}), the dynamical loss's training-accuracy gain has a 95% t-interval above 0, "
                 "Bonferroni-corrected for the widths × settings it is picked from; and at the largest width, if it is "
                 "overparameterized, the validation-accuracy gain does (corrected for the settings)")
def image_mnist1d(result):
    frame = final_frame(result)
    settings = settings_of(result)
    ce = next(k for k, s in enumerate(settings) if s[1] == 1)
    dyn = [k for k, s in enumerate(settings) if s[1] > 1]
    widths = result["widths"].tolist()
    under, parts, values = [], [], {}
    picks = len(widths) * len(dyn)
    for w in widths:
        ce_train = float(per_seed(frame, w, ce, "train_accuracy").mean())
        for k in dyn:
            tr = t_interval(paired_difference(frame, w, k, ce, "train_accuracy"), comparisons=picks)
            va = t_interval(paired_difference(frame, w, k, ce, "validation_accuracy"), comparisons=len(dyn))
            values[f"c{w} {setting_label(settings[k])}"] = {"ce_train": ce_train, "train_gain": list(tr),
                                                          "validation_gain": list(va)}
            if regime(ce_train) == "under" and tr[1] > 0:
                under.append(w)
            parts.append(f"c{w}: CE train {ce_train:.2f}, Δtrain {tr[0]:+.3f} [{tr[1]:+.3f}, {tr[2]:+.3f}], "
                         f"Δval {va[0]:+.3f} [{va[1]:+.3f}, {va[2]:+.3f}]")
    w = widths[-1]
    ce_fits = regime(float(per_seed(frame, w, ce, "train_accuracy").mean())) == "over"
    over = any(t_interval(paired_difference(frame, w, k, ce, "validation_accuracy"), comparisons=len(dyn))[1] > 0
               for k in dyn)
    ours = "; ".join(parts)
    if not ce_fits:
        ours += (f" — CE's final training accuracy is below {OVERPARAMETERIZED} even at {w} channels, so no width is judged "
                 "overparameterized and the generalization half cannot be tested")
    if ce_fits and over and data_splits(result) < MIN_SPLITS:
        ours += splits_note(result)
    checks = [bool(under)] + ([over and data_splits(result) >= MIN_SPLITS] if ce_fits else [])
    status = verdict(all(checks) and ce_fits, any(checks))
    return status, ours, values
