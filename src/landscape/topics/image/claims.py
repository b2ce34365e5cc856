"""Claim of the image chapter (the ICML paper's CIFAR-10 experiment, on MNIST-1D), from the stored `image` result.

Selection and test use different runs: the width (and dynamical setting) where the training-accuracy gain is read
is picked on the selection runs (their own data split and initial weights) and tested once on the evaluation runs
(no correction needed); a result without selection runs falls back to best-of-k with a Bonferroni correction."""

from __future__ import annotations

from ..sweeps.analysis import converged_share, interval_text
from ...settings import setting_label
from ...scorecard import claim, verdict
from ...statistics import CONVERGED_SHARE, MIN_SPLITS, OVERPARAMETERIZED, regime, t_interval
from .analysis import (EVALUATION, SELECTION, ce_and_dynamical, final_frame, has_runs,
                       paired_difference, per_seed)

GAIN_ABOVE = 0.0  # a gain counts where its 95% t-interval lies entirely above this


def _pick(frame, candidates, ce, column):
    """The (width, setting) of `candidates` with the largest run-mean paired gain over CE in `column`."""
    gains = {(w, k): float(paired_difference(frame, w, k, ce, column).mean()) for w, k in candidates}
    return max(gains, key=gains.get)


def _converged(frame, w, ce, k) -> bool:
    return min(converged_share(frame, w, [ce]), converged_share(frame, w, [k])) >= CONVERGED_SHARE


@claim("dl.image.mnist1d", kind="paper", title="Both effects with a CNN on images (MNIST-1D here)",
       chapter="image", needs=("image",),
       paper="With a Myrtle5 CNN on CIFAR-10, the dynamical loss trains underparameterized (narrow) networks better "
             "and makes overparameterized (wide) ones generalize better than cross-entropy",
       source="ICML 2021 abstract, claims 1–2; Sec. 4 (CIFAR-10 protocol not known to us; here MNIST-1D, 1-D convs)",
       criterion="training half: on the selection runs, pick the underparameterized width (CE's run-mean training "
                 f"accuracy below {OVERPARAMETERIZED}) and dynamical setting with the largest mean training-accuracy "
                 "gain over CE; on the evaluation runs (other data splits, other initial weights), paired by run, "
                 f"that width is still underparameterized and the gain's 95% t-interval lies above {GAIN_ABOVE:g}. "
                 "Generalization half: at the largest width, overparameterized on the evaluation runs (CE ≥ "
                 f"{OVERPARAMETERIZED}), the validation-accuracy gain of the setting picked on the selection runs "
                 f"has its 95% t-interval above {GAIN_ABOVE:g}, over ≥ {MIN_SPLITS} evaluation splits. A half counts "
                 f"in full only where ≥ {CONVERGED_SHARE:.0%} of the runs of both cells converged (training loss no "
                 "longer moving); reproduced: both halves in full; partly: either half's gain holds")
def image_mnist1d(result):
    settings, ce, dyn = ce_and_dynamical(result)
    frame = final_frame(result, EVALUATION)
    selected = has_runs(result, SELECTION)
    picking = final_frame(result, SELECTION) if selected else frame
    widths = [int(w) for w in result["widths"].tolist()]
    splits = len(result["split_seeds"])
    ce_mean = lambda f, w: float(per_seed(f, w, ce, "train_accuracy").mean())  # noqa: E731
    values = {"selection_runs": selected, "evaluation_splits": splits, "widths": {}}
    for w in widths:
        values["widths"][f"c{w}"] = {
            "ce_train": ce_mean(frame, w), "ce_converged": converged_share(frame, w, [ce]),
            **{setting_label(settings[k]): {
                "train_gain": list(t_interval(paired_difference(frame, w, k, ce, "train_accuracy"))),
                "validation_gain": list(t_interval(paired_difference(frame, w, k, ce, "validation_accuracy"))),
                "converged": converged_share(frame, w, [k])} for k in dyn}}
    how = "picked on the selection runs" if selected else "best of k on the same runs, Bonferroni-corrected"

    # training half (claim 1)
    candidates = [(w, k) for w in widths if regime(ce_mean(picking, w)) == "under" for k in dyn]
    train_holds = train_full = False
    if candidates:
        w, k = _pick(picking, candidates, ce, "train_accuracy")
        tr = t_interval(paired_difference(frame, w, k, ce, "train_accuracy"),
                        comparisons=1 if selected else len(candidates))
        under = regime(ce_mean(frame, w)) == "under"
        train_holds = under and tr[1] > GAIN_ABOVE
        train_full = train_holds and _converged(frame, w, ce, k)
        part = (f"training: c{w} {setting_label(settings[k])} ({how}), on the evaluation runs CE "
                f"{ce_mean(frame, w):.2f} → Δtrain {interval_text(*tr)}")
        if not under:
            part += f" — but CE reaches {OVERPARAMETERIZED} there on the evaluation runs"
        elif tr[2] < GAIN_ABOVE:
            part += " — the dynamical loss trains significantly worse"
        if not _converged(frame, w, ce, k):
            part += (f"; not converged: CE {converged_share(frame, w, [ce]):.0%}, dynamical "
                     f"{converged_share(frame, w, [k]):.0%} of the runs settled")
        values["training_pick"] = {"width": w, "setting": setting_label(settings[k]), "train_gain": list(tr)}
    else:
        part = f"training: CE reaches {OVERPARAMETERIZED} at every width, no underparameterized width to test"
    parts = [part]

    # generalization half (claim 2)
    w = widths[-1]
    ce_fits = regime(ce_mean(frame, w)) == "over"
    k = _pick(picking, [(w, k) for k in dyn], ce, "validation_accuracy")[1]
    va = t_interval(paired_difference(frame, w, k, ce, "validation_accuracy"),
                    comparisons=1 if selected else len(dyn))
    gen_holds = ce_fits and va[1] > GAIN_ABOVE
    gen_full = gen_holds and splits >= MIN_SPLITS and _converged(frame, w, ce, k)
    part = (f"generalization: c{w} {setting_label(settings[k])}, CE train {ce_mean(frame, w):.3f}, "
            f"Δval {interval_text(*va)}")
    if not ce_fits:
        part += (f" — CE's training accuracy is below {OVERPARAMETERIZED} even at {w} channels, so no width is "
                 "overparameterized and this half cannot be tested")
    elif va[2] < GAIN_ABOVE:
        part += " — the dynamical loss generalizes significantly worse"
    if gen_holds and splits < MIN_SPLITS:
        part += f"; {splits} evaluation split{'s' if splits > 1 else ''} only (≥ {MIN_SPLITS} needed)"
    if not _converged(frame, w, ce, k):
        part += (f"; not converged: CE {converged_share(frame, w, [ce]):.0%}, dynamical "
                 f"{converged_share(frame, w, [k]):.0%} of the runs settled")
    parts.append(part)
    values["generalization_pick"] = {"width": w, "setting": setting_label(settings[k]), "validation_gain": list(va),
                                     "ce_overparameterized": ce_fits}
    runs = len(set(frame.seed))
    ours = f"{runs} evaluation runs on {splits} data splits; " + "; ".join(parts)
    return verdict(train_full and gen_full, train_holds or gen_holds), ours, values
