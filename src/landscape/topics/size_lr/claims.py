"""Claims of the size × learning-rate chapter (follow-up, Fig. 1), computed from the stored `size_lr` result."""

from __future__ import annotations

import numpy as np

from .analysis import final_values, loss_states, settled_counts, settled_values
from ...scorecard import claim, verdict
from ...statistics import state_counts

EOS_BAND = (0.8, 1.5)  # final λ_max / (2/η) counted as "at the edge of stability"


MIN_SETTLED_RUNS = 6  # a cell (width, η) is read as a minimum only where at least this many runs settled


def _settled(result, name):
    """(lrs, (widths, lrs) means over settled runs, (widths, lrs) True where the cell has MIN_SETTLED_RUNS settled
    runs and may be read as a minimum, (widths, lrs) settled counts)."""
    lrs, table = settled_values(result, name)
    counts = settled_counts(result)
    return lrs, table, counts >= MIN_SETTLED_RUNS, counts


def _unread(readable, counts, result, widths, lrs) -> str:
    states = loss_states(result)
    cells = []
    for i, w in enumerate(widths):
        for j, lr in enumerate(lrs):
            if not readable[i, j]:
                cells.append(f"w{w} η = {lr:g} ({state_counts(states[i, result['member_lr'] == lr])})")
    return f"; not read (fewer than {MIN_SETTLED_RUNS} settled runs): {', '.join(cells)}" if cells else ""


def _unread_short(readable, widths, lrs) -> str:
    return ", ".join(f"w{w} η={lr:g}" for i, w in enumerate(widths) for j, lr in enumerate(lrs) if not readable[i, j])


@claim("dl.followup.size_deepens_minima", kind="paper", title="Larger networks reach deeper minima",
       chapter="size_lr", needs=("size_lr",),
       paper="Network size changes the depth of the minima gradient descent finds (abstract; Fig. 1: three sizes, "
             "loss averaged over 20 runs). The direction is our reading: larger networks reach lower loss",
       source="Lavin & Ruiz-Garcia 2024, abstract and Fig. 1",
       criterion="the mean final training loss over the settled runs of each cell (mean of the last 5 % of records; "
                 f"a cell is read only with ≥ {MIN_SETTLED_RUNS} settled runs — stuck, diverged and still-learning "
                 "runs are not minima) decreases strictly with width: at every learning rate with every width read "
                 "→ reproduced; over ≥ 2 read widths at some rate → partly; no rate with 2 read widths → "
                 "inconclusive")
def size_deepens(result):
    lrs, loss, readable, counts = _settled(result, "train_loss")
    widths = result["widths"].tolist()
    per_rate = []
    for j in range(len(lrs)):
        rows = [i for i in range(len(widths)) if readable[i, j]]
        per_rate.append((rows, len(rows) >= 2 and bool(np.all(np.diff(loss[rows, j]) < 0))))
    full = all(len(rows) == len(widths) and ok for rows, ok in per_rate)
    some = any(ok for _, ok in per_rate)
    status = "reproduced" if full else "partly" if some else "inconclusive" if \
        all(len(rows) < 2 for rows, _ in per_rate) else "not reproduced"
    ours = "final training loss of settled runs " + "; ".join(
        f"η = {lr:g}: " + ", ".join(f"w{w} {loss[i, j]:.3f} ({counts[i, j]} settled)" for i, w in enumerate(widths))
        for j, lr in enumerate(lrs)) + _unread(readable, counts, result, widths, lrs)
    unread = _unread_short(readable, widths, lrs)
    reason = ("deeper with width at every rate" if full else
              f"{sum(ok for _, ok in per_rate)} of {len(lrs)} rates deeper with width") + \
        (f"; unsettled cells: {unread}" if unread else "") + "; 2021 init"
    return status, ours, {"lrs": lrs, "widths": widths, "final_loss": loss.tolist(), "settled": counts.tolist(),
                          "readable": readable.tolist()}, reason[:160]


@claim("dl.followup.lr_flattens_minima", kind="paper", title="A larger learning rate ends in flatter minima",
       chapter="size_lr", needs=("size_lr",),
       paper="The learning rate changes the sharpness of the minima (abstract; Fig. 1: two learning rates, Hessian "
             "λ_max averaged over 20 runs). The direction is our reading: the larger rate ends in flatter minima",
       source="Lavin & Ruiz-Garcia 2024, abstract and Fig. 1",
       criterion="the mean final λ_max over the settled runs of each cell (mean of the last 5 % of records; a cell is "
                 f"read only with ≥ {MIN_SETTLED_RUNS} settled runs) is lower with the larger learning rate: at every "
                 "width with both cells read → reproduced; at some → partly; no width with both cells read → "
                 "inconclusive")
def lr_flattens(result):
    lrs, lam, readable, counts = _settled(result, "hessian_max")
    widths = result["widths"].tolist()
    rows = [i for i in range(len(widths)) if readable[i, 0] and readable[i, -1]]
    flatter = {i: bool(lam[i, -1] < lam[i, 0]) for i in rows}
    if not rows:
        status = "inconclusive"
    else:
        status = "reproduced" if len(rows) == len(widths) and all(flatter.values()) else \
            "partly" if any(flatter.values()) else "not reproduced"
    ours = "final λ_max of settled runs " + "; ".join(
        f"w{w}: " + " vs ".join(f"{lam[i, j]:.2f} (η = {lr:g}, {counts[i, j]} settled)" for j, lr in enumerate(lrs))
        for i, w in enumerate(widths)) + f"; flatter with the larger rate at {sum(flatter.values())} of {len(rows)} " \
        "widths read" + _unread(readable, counts, result, widths, lrs)
    unread = _unread_short(readable, widths, lrs)
    reason = (f"flatter at the larger rate at {sum(flatter.values())} of {len(rows)} widths read"
              + (f"; unsettled cells: {unread}" if unread else "") + "; 2021 init")
    return status, ours, {"lrs": lrs, "widths": widths, "final_hessian_max": lam.tolist(),
                          "flatter": [flatter.get(i) for i in range(len(widths))], "settled": counts.tolist()}, \
        reason[:160]


@claim("dl.followup.large_lr_edge_of_stability", kind="paper", title="At a large learning rate λmax stays near 2/η (edge of stability)",
       chapter="size_lr", needs=("size_lr",),
       paper="The follow-up links the loss's instabilities to the edge of stability (Cohen et al. 2021): at a large "
             "rate, λ_max is held near 2/η",
       source="Lavin & Ruiz-Garcia 2024, abstract",
       criterion=f"with the largest η, the seed-mean final λ_max lies in [{EOS_BAND[0]}, {EOS_BAND[1]}] × 2/η at "
                 "every width whose small-η run is sharper than 2/η at the end, and no run diverges")
def large_lr_eos(result):
    lrs, lam = final_values(result, "hessian_max")
    widths = result["widths"].tolist()
    level = 2.0 / lrs[-1]
    ratio = lam[:, -1] / level
    relevant = [i for i in range(len(widths)) if lam[i, 0] > level]
    inside = [i for i in relevant if EOS_BAND[0] <= ratio[i] <= EOS_BAND[1]]
    diverged = int((result["diverged_at"] >= 0).sum())
    if not relevant:
        status = "not testable"
    else:
        status = verdict(len(inside) == len(relevant) and diverged == 0, inside)
    ours = (f"η = {lrs[-1]:g}: final λ_max/(2/η) = " + ", ".join(f"w{w} {ratio[i]:.2f}" for i, w in enumerate(widths))
            + f"; small-η runs sharper than 2/η at widths {[widths[i] for i in relevant]}; {diverged} runs diverged")
    reason = (f"η = {lrs[-1]:g}: λ_max at " + ", ".join(f"{ratio[i]:.2f}" for i in relevant) + " × 2/η at widths "
              f"{[widths[i] for i in relevant]}; {diverged} runs diverged") if relevant else \
        "no width has its small-η run sharper than 2/η"
    return status, ours, {"ratio": ratio.tolist(), "relevant_widths": [widths[i] for i in relevant],
                          "diverged": diverged}, reason[:160]
