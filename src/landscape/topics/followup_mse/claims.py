"""Claim of the follow-up's MSE-variants chapter, from the stored `followup_mse` sweep (CE from `capacity`)."""

from __future__ import annotations

from .analysis import VARIANTS, baseline_accuracies, dmse_gains, edge_picks, gain_text
from ..sweeps.analysis import data_splits
from ...statistics import BASELINE_MARGIN, MIN_SETTLED_PAIRS, MIN_SPLITS, baseline_valid
from ...scorecard import claim

MIN_VALIDATION_GAIN = 0.01  # the smallest validation gain that counts as the paper's effect: 1 point


@claim("dl.followup.dmse_improves_validation", kind="paper", title="Dynamical MSE improves validation accuracy, most for small networks",
       chapter="followup_mse", needs=("followup_mse", "capacity"),
       paper="The dynamical versions of MSE improve validation accuracy on a simple classification problem, most for "
             "small networks (the losses' exact form is not known to us; DMSE1/DMSE2 are the book's reading)",
       source="Lavin & Ruiz-Garcia 2024, abstract",
       criterion="each loss at its own learning rate picked on the selection runs; a width is read only where the "
                 f"MSE baseline learned (its mean validation accuracy within {BASELINE_MARGIN} of CE's on the same "
                 "nets and splits; at no width: baseline invalid); on the evaluation runs, paired by run over the "
                 f"pairs whose two runs settled (≥ {MIN_SETTLED_PAIRS}): DMSE1 or DMSE2 − MSE validation accuracy "
                 "has a 95 % t-interval above 0 at some width, Bonferroni-corrected for the variants × widths read, "
                 f"over ≥ {MIN_SPLITS} splits, and the largest mean gain is at the smallest width → reproduced; an "
                 f"improvement alone → partly; every interval below {MIN_VALIDATION_GAIN} → not reproduced; else "
                 "inconclusive")
def dmse_improves(result, capacity):
    baselines = baseline_accuracies(result, capacity)
    valid = [w for w, (mse, ce) in baselines.items() if baseline_valid(mse, ce)]
    base_text = "MSE vs CE validation accuracy: " + ", ".join(f"w{w} {m:.2f} vs {c:.2f}"
                                                              for w, (m, c) in baselines.items())
    values = {"baselines": {f"w{w}": list(b) for w, b in baselines.items()}, "valid_widths": valid}
    if not valid:
        worst = min(baselines, key=lambda w: baselines[w][0] - baselines[w][1])
        m, c = baselines[worst]
        return "baseline invalid", base_text + ": MSE did not learn at any width", values, \
            f"MSE reaches validation {m:.2f} where CE reaches {c:.2f} (width {worst}): the baseline did not learn"
    gains = dmse_gains(result, valid)
    readable = {key: g for key, g in gains.items() if g[3] >= MIN_SETTLED_PAIRS}
    significant = [key for key, g in readable.items() if g[1] > 0]
    best_gain = {w: max((readable[(v, w)][0] for v in VARIANTS if (v, w) in readable), default=float("nan"))
                 for w in valid}
    w_max = max(best_gain, key=lambda w: best_gain[w] if best_gain[w] == best_gain[w] else -1.0)
    small_first = w_max == min(result["widths"].tolist())
    splits = data_splits(result)
    if significant:
        status = "reproduced" if small_first and splits >= MIN_SPLITS else "partly"
    elif readable and all(g[2] < MIN_VALIDATION_GAIN for g in readable.values()):
        status = "not reproduced"
    else:
        status = "inconclusive"
    ours = base_text + "; " + "; ".join(
        f"w{w}: " + ", ".join(f"{v} {gain_text(gains[(v, w)])}" for v in VARIANTS) for w in valid)
    ours += f"; largest gain at width {w_max}; {splits} evaluation splits"
    edges = edge_picks(result)
    if edges:
        ours += "; η picked at the edge of the grid (the best rate may lie outside it): " + ", ".join(
            f"{f} w{w} {lr:g}" for (f, w), lr in edges.items())
    values["edge_picks"] = [f"{f} w{w}" for f, w in edges]
    values.update(gains={f"{v} w{w}": list(g) for (v, w), g in gains.items()},
                  significant=[f"{v} w{w}" for v, w in significant], largest_at=w_max,
                  largest_at_smallest_width=small_first)
    if not readable:
        pairs = max(g[3] for g in gains.values())
        return status, ours, values, (f"at most {pairs} settled pairs per width (MSE runs stuck or still learning): "
                                      f"too few to read minima; MSE valid at widths {valid}")
    best = max(readable, key=lambda key: readable[key][0])
    m, lo, hi, n = gains[best]
    values["effect"] = {"label": f"{best[0]} − MSE, width {best[1]}", "estimate": m, "lower": lo, "upper": hi,
                        "threshold": MIN_VALIDATION_GAIN, "unit": "validation accuracy"}
    reason = (f"best {best[0]} − MSE at width {best[1]}: {m:+.3f} [{lo:+.3f}, {hi:+.3f}]; largest gain at width "
              f"{w_max}; MSE valid at widths {valid}")
    return status, ours, values, reason[:160]
