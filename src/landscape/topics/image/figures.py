"""Figures of the image chapter: CE's learning-rate selection runs, and the training loss of CE and the dynamical
loss per width with the phases of the schedule marked."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...plotting import steps_axis
from ...statistics import CONVERGENCE_WINDOW
from .analysis import SELECTION, runs_of, settings_of


def _loss_panels(arrays, lines, *, final_plain_from=None):
    """One panel per width of `arrays`: for each (setting, line style, colour, label, thin width, thin alpha) in
    `lines`, the plain CE training loss (log scale) of every run (thin) and their mean (thick), against the step;
    the convergence window shaded, the start of the final plain phase dotted."""
    steps, widths = arrays["steps"], arrays["widths"].tolist()
    fig, axes = plt.subplots(1, len(widths), figsize=(3.6 * len(widths), 3.4), sharey=True, squeeze=False)
    for ax, (i, w) in zip(axes[0], enumerate(widths)):
        for k, ls, color, label, thin, alpha in lines:
            curves = arrays["train_loss"][i][:, arrays["member_setting"] == k]
            ax.plot(steps, curves, ls, color=color, lw=thin, alpha=alpha)
            ax.plot(steps, np.nanmean(curves, axis=1), ls, color=color, lw=2, label=label)
        ax.axvspan((1 - CONVERGENCE_WINDOW) * steps[-1], steps[-1], color="0.85", lw=0)
        if final_plain_from is not None:
            ax.axvline(final_plain_from, color="0.4", lw=1, ls=":")
        ax.set(yscale="log", title=f"{w} channels")
        steps_axis(ax, "full-batch GD step")
    axes[0, 0].set_ylabel("CE training loss")
    axes[0, 0].legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    return fig


def plot_selection_curves(select_result):
    """The `select` preset: CE's training loss (log scale) against the step, one panel per width, one colour per
    learning rate; thin lines are runs, thick ones their mean. The shaded band is the convergence window."""
    arrays = runs_of(select_result, SELECTION)
    settings = settings_of(arrays)
    colors = dict(zip(sorted({s[3] for s in settings}), plt.get_cmap("viridis")(np.linspace(0.0, 0.8, 3))))
    return _loss_panels(arrays, [(k, "-", colors[lr], f"η = {lr:g}", 0.6, 0.5)
                                 for k, (_, _, _, lr) in enumerate(settings)])


def plot_training_loss(result, reference: int, setting: int, role: str = "evaluation", final_plain_from=None):
    """CE (`reference`, solid) and the dynamical loss (`setting`, dashed): the plain CE training loss (log scale)
    of the runs of `role` against the step, one panel per width (thin: runs; thick: their mean). Marked: the start
    of the final plain phase (`final_plain_from`) and the convergence window (shaded)."""
    return _loss_panels(runs_of(result, role), [(reference, "-", "0.2", "CE", 0.5, 0.4),
                                                (setting, "--", "C1", "dynamical", 0.5, 0.4)],
                        final_plain_from=final_plain_from)
