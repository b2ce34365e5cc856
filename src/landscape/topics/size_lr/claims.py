"""Claims of the size × learning-rate chapter (follow-up, Fig. 1), computed from the stored `size_lr` result."""

from __future__ import annotations

import numpy as np

from .analysis import converged_share, final_values
from ...scorecard import claim, verdict
from ...statistics import CONVERGED_SHARE

EOS_BAND = (0.8, 1.5)  # final λ_max / (2/η) counted as "at the edge of stability"


def _final(result, name):
    """(lrs, (widths, lrs) table of seed-means of the runs' final values, (widths, lrs) True where the cell's runs
    converged and may be read as minima)."""
    lrs, table = final_values(result, name)
    return lrs, table, converged_share(result) >= CONVERGED_SHARE


def _not_converged(converged, widths, lrs) -> str:
    cells = [f"w{w} η = {lr:g}" for i, w in enumerate(widths) for j, lr in enumerate(lrs) if not converged[i, j]]
    return f"; not converged (loss still moving over the last 10 % of training): {', '.join(cells)}" if cells else ""


@claim("dl.followup.size_deepens_minima", kind="paper", title="Larger networks reach deeper minima",
       chapter="size_lr", needs=("size_lr",),
       paper="Network size changes the depth of the minima gradient descent finds (abstract; Fig. 1: three sizes, "
             "loss averaged over 20 runs). The direction is our reading: larger networks reach lower loss",
       source="Lavin & Ruiz-Garcia 2024, abstract and Fig. 1",
       criterion="seed-mean final training loss (mean of the last 5 % of records) decreases strictly with width, "
                 f"at each learning rate whose runs converged (≥ {CONVERGED_SHARE:.0%} per cell); a learning rate "
                 "with a cell that has not converged is not read")
def size_deepens(result):
    lrs, loss, converged = _final(result, "train_loss")
    widths = result["widths"].tolist()
    readable = [j for j in range(len(lrs)) if converged[:, j].all()]
    monotone = [bool(np.all(np.diff(loss[:, j]) < 0)) for j in readable]
    status = verdict(len(readable) == len(lrs) and all(monotone), any(monotone)) if readable else "not testable"
    ours = "; ".join(f"η = {lr:g}: " + ", ".join(f"w{w} {loss[i, j]:.3f}" for i, w in enumerate(widths))
                     for j, lr in enumerate(lrs))
    return status, "final training loss " + ours + _not_converged(converged, widths, lrs), \
        {"lrs": lrs, "widths": widths, "final_loss": loss.tolist(), "converged": converged.tolist()}


@claim("dl.followup.lr_flattens_minima", kind="paper", title="A larger learning rate ends in flatter minima",
       chapter="size_lr", needs=("size_lr",),
       paper="The learning rate changes the sharpness of the minima (abstract; Fig. 1: two learning rates, Hessian "
             "λ_max averaged over 20 runs). The direction is our reading: the larger rate ends in flatter minima",
       source="Lavin & Ruiz-Garcia 2024, abstract and Fig. 1",
       criterion="seed-mean final λ_max (mean of the last 5 % of records) is lower with the larger learning rate, "
                 f"at each width whose runs converged at both rates (≥ {CONVERGED_SHARE:.0%} per cell); a width with "
                 "a cell that has not converged is not read")
def lr_flattens(result):
    lrs, lam, converged = _final(result, "hessian_max")
    widths = result["widths"].tolist()
    readable = [i for i in range(len(widths)) if converged[i].all()]
    flatter = [bool(lam[i, -1] < lam[i, 0]) for i in range(len(widths))]
    read = [flatter[i] for i in readable]
    status = verdict(len(readable) == len(widths) and all(read), any(read)) if readable else "not testable"
    ours = "; ".join(f"w{w}: " + " vs ".join(f"{lam[i, j]:.2f} (η = {lr:g})" for j, lr in enumerate(lrs))
                     for i, w in enumerate(widths))
    ours += f"; flatter with the larger rate at {sum(flatter)} of {len(widths)} widths" + \
        _not_converged(converged, widths, lrs)
    return status, "final λ_max " + ours, {"lrs": lrs, "widths": widths, "final_hessian_max": lam.tolist(),
                                            "flatter": flatter, "converged": converged.tolist()}


@claim("dl.followup.large_lr_edge_of_stability", kind="paper", title="At a large learning rate λmax stays near 2/η (edge of stability)",
       chapter="size_lr", needs=("size_lr",),
       paper="The follow-up links the loss's instabilities to the edge of stability (Cohen et al. 2021): at a large "
             "rate, λ_max is held near 2/η",
       source="Lavin & Ruiz-Garcia 2024, abstract",
       criterion=f"with the largest η, the seed-mean final λ_max lies in [{EOS_BAND[0]}, {EOS_BAND[1]}] × 2/η at "
                 "every width whose small-η run is sharper than 2/η at the end, and no run diverges")
def large_lr_eos(result):
    lrs, lam, _ = _final(result, "hessian_max")
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
    return status, ours, {"ratio": ratio.tolist(), "relevant_widths": [widths[i] for i in relevant],
                          "diverged": diverged}
