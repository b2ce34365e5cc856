"""Figures of the amplitude × period chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns


def plot_amp_period(result, columns=("train_accuracy", "validation_accuracy")):
    """Heat maps of seed-mean accuracy over amplitude A (rows; A = 1 is plain CE) and period T (columns), one row of
    panels per width."""
    from ..sweeps.analysis import amp_period_grid, evaluation_frame

    frame = evaluation_frame(result)
    widths = sorted(frame.width.unique())
    fig, axes = plt.subplots(len(widths), len(columns), figsize=(5 * len(columns), 3.6 * len(widths)))
    axes = np.atleast_2d(axes)
    for i, w in enumerate(widths):
        for j, column in enumerate(columns):
            grid = amp_period_grid(frame, w, column)
            ax = axes[i, j]
            sns.heatmap(grid.iloc[::-1], annot=True, fmt=".2f", cmap="viridis", vmin=0.33, vmax=1.0, ax=ax,
                        cbar_kws={"label": column.replace("_", " ")}, annot_kws={"fontsize": 9})
            ax.set(xlabel="period T (steps)", ylabel="amplitude A (A = 1: plain CE)",
                   title=f"width {w}: {column.split('_')[0]} accuracy")
            ax.set_yticklabels([f"{a:g}" for a in grid.index[::-1]], rotation=0)
            ax.axhline(len(grid) - 1, color="white", lw=2)
    fig.tight_layout()
    return fig
