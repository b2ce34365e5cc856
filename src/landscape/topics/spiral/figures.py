"""Figures of the spiral chapter: the paper's Fig. 4 and the initialization table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .analysis import PAPER_F_MINIMA, PAPER_HESSIAN_FINAL_CE, PAPER_NTK, PAPER_STAIRCASE, plain_ce_from
from ...plotting import plot_gammas, steps_axis

PAPER_MARK = dict(color="k", marker="x", ls="none", ms=7, mew=1.6, zorder=5, gid="paper", label="paper (read off Fig. 4)")
PAPER_SPAN = dict(color="k", ls=":", lw=2, zorder=5, gid="paper", label="paper (read off Fig. 4)")


def _zoomed(ax, zoom):
    if zoom is not None:
        ax.set_xlim(*zoom)


def plot_fig4(result, zoom=None, ce_result=None, paper=None):
    """The paper's Fig. 4 panels for a stored spiral run, one above the other: Γ, F, ΔF, train accuracy, Hessian
    λ_max of F (with 2/η), NTK λ_max; the full run, or the window `zoom = (first, last step)` (the paper's right
    column). `ce_result`, if given, adds the plain-CE baseline in grey. With `paper` (by default on the full run), the
    paper's read-offs (analysis.PAPER_*) as black marks labelled "paper": the accuracy staircase, F's first and last minima and the NTK's
    start and end (over the first and last period), λ_max over the final plain-CE period."""
    config = result.typed_config
    plain_from = plain_ce_from(result["gamma"])
    F = result["objective"]
    t = np.arange(len(F))
    paper = zoom is None if paper is None else paper
    first_period = (0, config.period)
    last_period = (max(len(F) - 1 - config.period, 0), len(F) - 1)
    fig, axes = plt.subplots(6, 1, figsize=(7.6, 12.5), sharex="col", squeeze=False)
    for col, window in enumerate([zoom]):
        lo, hi = (0, len(F)) if window is None else window
        sl = slice(lo, min(hi + 1, len(F)))
        ax = axes[0, col]
        plot_gammas(result["gamma"], ax=ax, every=1 if window else 10)
        ax.set_ylabel(r"$\Gamma_i(t)$")
        ax = axes[1, col]
        if ce_result is not None:
            ax.plot(t[sl], ce_result["objective"][sl], color="0.6", lw=1, label="plain CE (A = 1)")
        ax.plot(t[sl], F[sl], color="C0", lw=1, label=f"dynamical F (A = {config.amplitude:g})")
        ax.set(yscale="log", ylabel=r"loss $F$")
        if paper:
            for (a, b), v in zip((first_period, _before_plain(plain_from, config.period, last_period)), PAPER_F_MINIMA):
                ax.plot([a, b], [v, v], **(PAPER_SPAN if a == 0 else {**PAPER_SPAN, "label": None}))
        ax = axes[2, col]
        dF = np.diff(F)
        ax.plot(t[:-1][sl][: len(dF[sl])], dF[sl], ",", color="C0", alpha=0.6, rasterized=True)
        ax.set(ylabel=r"$\Delta F = F_{t+1}-F_t$", ylim=(-0.3, 0.3))
        ax = axes[3, col]
        if ce_result is not None:
            ax.plot(t[sl], ce_result["accuracy"][sl], color="0.6", lw=1, label="plain CE (A = 1)")
        ax.plot(t[sl], result["accuracy"][sl], color="C0", lw=1.2, label="dynamical loss")
        ax.set(ylabel="train accuracy", ylim=(0, 1.02))
        if paper:
            marks = [(s, v) for s, (a, b) in PAPER_STAIRCASE.items() for v in [(a + b) / 2] if s < len(F)]
            ax.plot(*zip(*marks), **PAPER_MARK)
        ax = axes[4, col]
        hs, hv = result["hessian_max_steps"], result["hessian_max"]
        keep = (hs >= lo) & (hs <= hi)
        ax.plot(hs[keep], hv[keep], ".-", ms=2, lw=0.6, color="C2", label=r"$\lambda_{\max}(\nabla^2 F)$")
        ax.axhline(2 / config.lr, color="C3", ls="--", lw=1, label=rf"$2/\eta$ = {2 / config.lr:g}")
        ax.set(yscale="log", ylabel=r"Hessian $\lambda_{\max}$")
        if paper and plain_from is not None:
            ax.plot([plain_from, len(F) - 1], [PAPER_HESSIAN_FINAL_CE] * 2, **PAPER_SPAN)
        ax = axes[5, col]
        ks, kv = result["ntk_max_steps"], result["ntk_max"]
        keep = (ks >= lo) & (ks <= hi)
        ax.plot(ks[keep], kv[keep], color="C4", lw=1)
        ax.set(yscale="log", ylabel=r"NTK $\lambda_{\max}$", xlabel="step t")
        if paper:
            for (a, b), v in zip((first_period, last_period), PAPER_NTK):
                ax.plot([a, b], [v, v], **(PAPER_SPAN if a == 0 else {**PAPER_SPAN, "label": None}))
            ax.legend(loc="lower right")
        for a in axes[:-1, col]:
            a.set_xlabel("")
        steps_axis(axes[-1, col])
        if window is not None:
            for a in axes[:, col]:
                _zoomed(a, window)
    axes[0, 0].legend(loc="upper center", ncol=3)
    axes[1, 0].set_ylim(top=axes[1, 0].get_ylim()[1] * 40)  # room for the legend above the bursts
    axes[1, 0].legend(loc="upper left", ncol=3)
    axes[3, 0].legend(loc="lower right")
    axes[4, 0].legend(loc="upper right")
    axes[0, 0].set_title("full run" if zoom is None else f"zoom: t ∈ [{zoom[0]:,}, {zoom[1]:,}]")
    fig.align_ylabels(axes[:, 0])
    fig.tight_layout()
    return fig


def _before_plain(start, length, period):
    """The last emphasized period: `period` moved back before the final plain-CE phase starting at `start`, if any."""
    if start is None or period[1] < start:
        return period
    return (max(start - length, 0), start)


def plot_init_table(table):
    """Training accuracy curves of the initialization table: one panel per initialization, CE vs dynamical."""
    inits = list(dict.fromkeys(table["init"].tolist()))
    fig, axes = plt.subplots(1, len(inits), figsize=(min(3.3 * len(inits), 10), 3.4), sharey=True)
    steps = table["curve_steps"]
    for ax, init in zip(np.atleast_1d(axes), inits):
        for amplitude, color in zip(sorted(set(table["amplitude"].tolist())), ["0.55", "C0"]):
            rows = np.nonzero((table["init"] == init) & (table["amplitude"] == amplitude))[0]
            for j, r in enumerate(rows):
                label = ("plain CE (A = 1)" if amplitude == 1 else f"dynamical (A = {amplitude:g})") if j == 0 else None
                ax.plot(steps, table["accuracy_curves"][r], color=color, lw=1, alpha=0.85, label=label)
        ax.set(title=init, ylim=(0, 1.02))
        steps_axis(ax)
    np.atleast_1d(axes)[0].set_ylabel("train accuracy")
    np.atleast_1d(axes)[0].legend(loc="lower right")
    fig.tight_layout()
    return fig
