"""Claim of the follow-up's MSE-variants chapter, from the stored `followup_mse` sweep."""

from __future__ import annotations

from .analysis import dmse_gains
from ..sweeps.analysis import data_splits, splits_note
from ...statistics import MIN_SPLITS
from ...scorecard import claim, verdict


@claim("dl.followup.dmse_improves_validation", kind="paper", title="Dynamical MSE improves validation accuracy, most for small networks",
       chapter="followup_mse", needs=("followup_mse",),
       paper="The dynamical versions of MSE improve validation accuracy on a simple classification problem, most for "
             "small networks (the losses' exact form is not known to us; DMSE1/DMSE2 are the book's reading)",
       source="Lavin & Ruiz-Garcia 2024, abstract",
       criterion="on the evaluation runs, paired by run, each loss at its own learning rate picked on the selection "
                 "runs (another data split and other seeds): DMSE1 or DMSE2 − MSE validation accuracy has a 95% "
                 "t-interval above 0 at some width, Bonferroni-corrected for the variants × widths (improvement), "
                 f"over ≥ {MIN_SPLITS} data splits, and the largest mean gain is at the smallest width (most for small "
                 "networks) → reproduced; an improvement alone → partly")
def dmse_improves(result):
    gains = dmse_gains(result)
    widths = result["widths"].tolist()
    significant = [(v, w) for (v, w), (m, lo, hi) in gains.items() if lo > 0]
    best_gain = {w: max(gains[(v, w)][0] for v in ("DMSE1", "DMSE2")) for w in widths}
    w_max = max(best_gain, key=best_gain.get)
    small_first = w_max == widths[0]
    splits = data_splits(result)
    status = verdict(bool(significant) and small_first and splits >= MIN_SPLITS, significant)
    ours = "; ".join(f"w{w}: " + ", ".join(f"{v} {gains[(v, w)][0]:+.3f} [{gains[(v, w)][1]:+.3f}, "
                                           f"{gains[(v, w)][2]:+.3f}]" for v in ("DMSE1", "DMSE2"))
                     for w in widths)
    ours += f"; largest gain at width {w_max}; {splits} evaluation splits" + splits_note(result)
    return status, ours, {"gains": {f"{v} w{w}": list(g) for (v, w), g in gains.items()},
                          "significant": [f"{v} w{w}" for v, w in significant], "largest_at": w_max,
                          "largest_at_smallest_width": small_first}
