"""Reading the stored `size_lr` result: seed means per width and learning rate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data import SpiralSplitConfig
from ...statistics import SETTLED, readout, run_states

# The follow-up's Fig. 1 gives no values, only directions (its abstract: size changes the depth, the learning rate the
# sharpness of the minima); the arrow of each is our reading. Drawn on the book's figure, labelled as such.
PAPER_DIRECTIONS = {"train_loss": "paper (Fig. 1, as we read it):\nlarger networks → lower loss",
                    "hessian_max": "paper (Fig. 1, as we read it):\nlarger η → lower λ_max"}


def learning_rates(result) -> list[float]:
    return sorted(set(result["member_lr"].tolist()))


def seed_mean(result, name: str, width: int, lr: float, record: int = -1) -> float:
    """The mean over seeds of the curve `name` at record `record` (the last by default), for one width and rate."""
    i = result["widths"].tolist().index(width)
    return float(np.nanmean(result[name][i, record, result["member_lr"] == lr]))


def final_values(result, name: str) -> tuple[list[float], np.ndarray]:
    """(learning rates, (widths, lrs) table): the seed-mean of each run's final value of the curve `name` (the mean
    over its last records, `statistics.readout`)."""
    lrs = learning_rates(result)
    steps = result[f"{name}_steps"] if f"{name}_steps" in result else result["steps"]
    final = readout(result[name], steps, axis=1)  # (widths, members)
    return lrs, np.array([[np.nanmean(final[i, result["member_lr"] == lr]) for lr in lrs]
                          for i in range(len(result["widths"]))])


CLASSES = 3


def loss_states(result) -> np.ndarray:
    """(widths, members) run states judged on the training loss (`statistics.run_states`: a fitted run is settled,
    a flat loss near ln 3 with the set unfitted is stuck): a minimum is read only from settled runs."""
    return run_states(result["train_loss"], result["train_accuracy"], result["steps"], plateau_loss=np.log(CLASSES),
                      num_classes=CLASSES, axis=1)


def settled_mask(result) -> np.ndarray:
    """(widths, members) True where the run settled."""
    return loss_states(result) == SETTLED


def settled_counts(result) -> np.ndarray:
    """(widths, lrs): how many runs of each cell settled."""
    settled = settled_mask(result)
    return np.array([[int(settled[i, result["member_lr"] == lr].sum()) for lr in learning_rates(result)]
                     for i in range(len(result["widths"]))])


def settled_values(result, name: str) -> tuple[list[float], np.ndarray]:
    """(learning rates, (widths, lrs) table): the mean of the final values of `name` over the settled runs of each
    cell (NaN where none settled)."""
    lrs = learning_rates(result)
    steps = result[f"{name}_steps"] if f"{name}_steps" in result else result["steps"]
    final = readout(result[name], steps, axis=1)
    settled = settled_mask(result)
    table = np.full((len(result["widths"]), len(lrs)), np.nan)
    for i in range(len(result["widths"])):
        for j, lr in enumerate(lrs):
            m = (result["member_lr"] == lr) & settled[i]
            if m.any():
                table[i, j] = float(np.nanmean(final[i, m]))
    return lrs, table


def final_table(result) -> pd.DataFrame:
    """One row per width × learning rate: the final training loss, accuracies, λ_max and divergences over seeds."""
    rows = []
    for i, w in enumerate(result["widths"].tolist()):
        for lr in learning_rates(result):
            m = result["member_lr"] == lr
            loss, lam = result["train_loss"][i, -1, m], result["hessian_max"][i, -1, m]
            rows.append({"width": w, "η": lr,
                         "training loss (mean ± sd)": f"{np.nanmean(loss):.3f} ± {np.nanstd(loss):.3f}",
                         "training accuracy": round(float(np.nanmean(result["train_accuracy"][i, -1, m])), 3),
                         "validation accuracy": round(float(np.nanmean(result["validation_accuracy"][i, -1, m])), 3),
                         "λ_max (mean ± sd)": f"{np.nanmean(lam):.2f} ± {np.nanstd(lam):.2f}",
                         "λ_max / (2/η)": round(float(np.nanmean(lam) * lr / 2), 2),
                         "diverged runs": int((result["diverged_at"][i, m] >= 0).sum())})
    return pd.DataFrame(rows)
