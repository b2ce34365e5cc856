"""Figures of the size and learning-rate chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt

from .analysis import PAPER_DIRECTIONS
from ...plotting import PAPER_COLOR, mean_confidence_band, steps_axis, width_palette


def _band(ax, x, values, color, label=None, ls="-", lw=1.4, clip=None):
    mean, lo, hi = mean_confidence_band(values, clip=clip)
    ax.plot(x, mean, color=color, ls=ls, lw=lw, label=label)
    ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def plot_size_lr(result):
    """Follow-up Fig. 1: training loss, validation accuracy and Hessian λ_max over training, per width (colour) and
    learning rate (line style); seed mean with its 95% band; 2/η dashed; the paper's directions (analysis.
    PAPER_DIRECTIONS) as labelled notes."""
    widths = result["widths"].tolist()
    lrs = sorted(set(result["member_lr"].tolist()))
    colors, styles = width_palette(widths), dict(zip(lrs, ["-", "--", ":", "-."]))
    fig, axes = plt.subplots(1, 3, figsize=(10, 4.6), layout="constrained")
    for i, w in enumerate(widths):
        for lr in lrs:
            m = result["member_lr"] == lr
            label = f"width {w}, η = {lr:g}"
            _band(axes[0], result["steps"], result["train_loss"][i][:, m], colors[w], label, styles[lr])
            _band(axes[1], result["steps"], result["validation_accuracy"][i][:, m], colors[w], None, styles[lr],
                  clip=(0, 1))
            _band(axes[2], result["hessian_max_steps"], result["hessian_max"][i][:, m], colors[w], None, styles[lr])
    for lr in lrs:
        axes[2].axhline(2 / lr, color=PAPER_COLOR, ls=styles[lr], lw=0.9, label=rf"$2/\eta$ = {2 / lr:g}")
    axes[0].set(yscale="log", ylabel="training cross-entropy", title="depth: training loss")
    axes[1].set(ylabel="validation accuracy", title="validation accuracy", ylim=(0.25, 1.0))
    axes[2].set(yscale="log", ylabel=r"Hessian $\lambda_{\max}$ of the loss", title=r"sharpness: $\lambda_{\max}$")
    for ax in axes:
        steps_axis(ax, "full-batch GD step")
    for ax, key, x, ha in ((axes[0], "train_loss", 0.03, "left"), (axes[2], "hessian_max", 0.97, "right")):
        ax.text(x, 0.03, PAPER_DIRECTIONS[key], transform=ax.transAxes, fontsize=9, va="bottom", ha=ha,
                gid="paper", bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=PAPER_COLOR, lw=0.8, alpha=0.9))
    # one legend below the panels (widths, rates and the 2/η lines), off every curve
    handles, labels = axes[0].get_legend_handles_labels()
    more_handles, more_labels = axes[2].get_legend_handles_labels()
    fig.legend(handles + more_handles, labels + more_labels, loc="outside lower center", ncol=4, frameon=False)
    return fig
