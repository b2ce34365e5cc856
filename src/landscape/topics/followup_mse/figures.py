"""Figures of the follow-up's MSE chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np

FAMILY_COLORS = {"CE": "0.15", "DCE": "C0", "MSE": "0.6", "DMSE1": "C1", "DMSE2": "C2"}


def plot_loss_families(frame, picked_lr, columns=("validation_accuracy", "train_accuracy")):
    """Accuracy against width per loss family (column `family`), each at the learning rate picked for it on the
    selection runs (`picked_lr[(family, width)]`; a family with one rate needs none); mean and 95% t-interval over
    the frame's runs."""
    from ...statistics import t_interval

    fig, axes = plt.subplots(1, len(columns), figsize=(min(5 * len(columns), 10), 4), sharey=True)
    axes = np.atleast_1d(axes)
    widths = sorted(frame.width.unique())
    for family in [f for f in FAMILY_COLORS if f in set(frame.family)]:
        sub = frame[frame.family == family]
        best_lr = {w: picked_lr.get((family, w), sub[sub.width == w].lr.iloc[0]) for w in widths}
        for ax, column in zip(axes, columns):
            stats_ = np.array([t_interval(sub[(sub.width == w) & (sub.lr == best_lr[w])][column]) for w in widths])
            dashed = family in ("MSE", "DMSE1", "DMSE2")
            ax.plot(widths, stats_[:, 0], "o--" if dashed else "o-", ms=3.5, color=FAMILY_COLORS[family],
                    label=family)
            ax.fill_between(widths, stats_[:, 1], stats_[:, 2], color=FAMILY_COLORS[family], alpha=0.15, lw=0)
    for ax, column in zip(axes, columns):
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.set(xlabel="hidden width (units)", ylabel=column.replace("_", " "), ylim=(0.25, 1.02),
               title=column.split("_")[0] + " set, end of training")
    axes[0].legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    return fig
