"""Claim of the follow-up's MSE-variants chapter, from the stored `followup_mse` sweep."""

from __future__ import annotations

from .analysis import dmse_gains
from ...scorecard import claim, verdict


@claim("dl.followup.dmse_improves_validation", kind="paper", title="Dynamical MSE improves validation accuracy, most for small networks",
       chapter="followup_mse", needs=("followup_mse",),
       paper="The dynamical versions of MSE improve validation accuracy on a simple classification problem, most for "
             "small networks (the losses' exact form is not known to us; DMSE1/DMSE2 are the book's reading)",
       source="Lavin & Ruiz-Garcia 2024, abstract",
       criterion="paired by seed, each loss at its better learning rate (picked on the other half of the seeds): "
                 "DMSE1 or DMSE2 − MSE validation accuracy has a 95% t-interval above 0 at some width, "
                 "Bonferroni-corrected for the variants × widths (improvement), and the largest mean gain is at the "
                 "smallest width (most for small networks). (A, T) were picked on these same seeds' validation "
                 "accuracy, so the claim can at most be partly reproduced until they are picked on other seeds")
def dmse_improves(result):
    gains = dmse_gains(result)
    widths = result["widths"].tolist()
    significant = [(v, w) for (v, w), (m, lo, hi) in gains.items() if lo > 0]
    best_gain = {w: max(gains[(v, w)][0] for v in ("DMSE1", "DMSE2")) for w in widths}
    w_max = max(best_gain, key=best_gain.get)
    small_first = w_max == widths[0]
    status = verdict(False, significant)  # (A, T) not selected on disjoint seeds: "partly" at best
    ours = "; ".join(f"w{w}: " + ", ".join(f"{v} {gains[(v, w)][0]:+.3f} [{gains[(v, w)][1]:+.3f}, "
                                           f"{gains[(v, w)][2]:+.3f}]" for v in ("DMSE1", "DMSE2"))
                     for w in widths)
    ours += f"; largest gain at width {w_max}"
    return status, ours, {"gains": {f"{v} w{w}": list(g) for (v, w), g in gains.items()},
                          "significant": [f"{v} w{w}" for v, w in significant], "largest_at": w_max,
                          "largest_at_smallest_width": small_first}
