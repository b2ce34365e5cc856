"""Figures: one seaborn theme for the whole book and the figure functions the chapters call."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import seaborn as sns

from .losses import GammaSchedule

CLASS_COLORS = sns.color_palette("colorblind", 10)
PAPER_COLOR = "0.35"


def set_theme() -> None:
    """The book's one theme."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.95,
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "axes.titleweight": "bold", "legend.frameon": False})


def steps_axis(ax, label: str = "step t") -> None:
    """Steps in thousands (10k, 20k …) so long runs keep readable ticks."""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))
    ax.set_xlabel(label)


def plot_gammas(schedule: GammaSchedule, steps: int, ax=None, every: int = 10):
    """Γ_i(t) for each class."""
    ax = ax or plt.gca()
    t = np.arange(0, steps + 1, every)
    g = schedule.gammas(t)
    for i in range(schedule.num_classes):
        ax.plot(t, g[:, i], color=CLASS_COLORS[i], lw=1.2, label=f"class {i}")
    ax.set(ylabel=r"$\Gamma_i(t)$", ylim=(0, 3.9 * schedule.num_classes / 3))
    steps_axis(ax)
    return ax


def _zoomed(ax, zoom):
    if zoom is not None:
        ax.set_xlim(*zoom)


def plot_fig4(result, zoom=(8000, 10500), ce_result=None):
    """The paper's Fig. 4 panels for a stored spiral run: Γ, F, ΔF, train accuracy, Hessian λ_max of F (with 2/η),
    NTK λ_max; left the full run, right the zoom. `ce_result`, if given, adds the plain-CE baseline in grey."""
    from .experiments import config_from_dict
    from .experiments.spiral import SpiralConfig

    config = config_from_dict(SpiralConfig, result.config)
    schedule = config.schedule()
    F = result["objective"]
    t = np.arange(len(F))
    fig, axes = plt.subplots(6, 2, figsize=(12, 15), sharex="col", gridspec_kw={"width_ratios": [2, 1]})
    for col, window in enumerate([None, zoom]):
        lo, hi = (0, len(F)) if window is None else window
        sl = slice(lo, min(hi + 1, len(F)))
        ax = axes[0, col]
        plot_gammas(schedule, len(F) - 1, ax=ax, every=1 if window else 10)
        ax.set_ylabel(r"$\Gamma_i(t)$")
        ax = axes[1, col]
        if ce_result is not None:
            ax.plot(t[sl], ce_result["objective"][sl], color="0.6", lw=1, label="plain CE (A = 1)")
        ax.plot(t[sl], F[sl], color="C0", lw=1, label=f"dynamical F (A = {config.amplitude:g})")
        ax.set(yscale="log", ylabel=r"loss $F$")
        ax = axes[2, col]
        dF = np.diff(F)
        ax.plot(t[:-1][sl][: len(dF[sl])], dF[sl], ",", color="C0", alpha=0.6, rasterized=True)
        ax.set(ylabel=r"$\Delta F = F_{t+1}-F_t$", ylim=(-0.3, 0.3))
        ax = axes[3, col]
        if ce_result is not None:
            ax.plot(t[sl], ce_result["accuracy"][sl], color="0.6", lw=1, label="plain CE (A = 1)")
        ax.plot(t[sl], result["accuracy"][sl], color="C0", lw=1.2, label="dynamical loss")
        ax.set(ylabel="train accuracy", ylim=(0, 1.02))
        ax = axes[4, col]
        hs, hv = result["hessian_max_steps"], result["hessian_max"]
        keep = (hs >= lo) & (hs <= hi)
        ax.plot(hs[keep], hv[keep], ".-", ms=2, lw=0.6, color="C2", label=r"$\lambda_{\max}(\nabla^2 F)$")
        ax.axhline(2 / config.lr, color="C3", ls="--", lw=1, label=rf"$2/\eta$ = {2 / config.lr:g}")
        ax.set(yscale="log", ylabel=r"Hessian $\lambda_{\max}$")
        ax = axes[5, col]
        ks, kv = result["ntk_max_steps"], result["ntk_max"]
        keep = (ks >= lo) & (ks <= hi)
        ax.plot(ks[keep], kv[keep], color="C4", lw=1)
        ax.set(yscale="log", ylabel=r"NTK $\lambda_{\max}$", xlabel="step t")
        for a in axes[:-1, col]:
            a.set_xlabel("")
        steps_axis(axes[-1, col])
        if window is not None:
            for a in axes[:, col]:
                _zoomed(a, window)
    axes[0, 0].legend(loc="upper center", ncol=3)
    axes[1, 0].legend(loc="lower left")
    axes[3, 0].legend(loc="lower right")
    axes[4, 0].legend(loc="upper right")
    axes[0, 0].set_title("full run")
    axes[0, 1].set_title(f"zoom: t ∈ [{zoom[0]:,}, {zoom[1]:,}]")
    fig.align_ylabels(axes[:, 0])
    fig.tight_layout()
    return fig


def plot_init_table(table):
    """Training accuracy curves of the initialization table: one panel per initialization, CE vs dynamical."""
    inits = list(dict.fromkeys(table["init"].tolist()))
    fig, axes = plt.subplots(1, len(inits), figsize=(4 * len(inits), 3.4), sharey=True)
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


def plot_decay_sweep(result):
    """Late decay on the network: left, the main path's losses over epochs with the decay epochs marked; right, each
    subpath's final loss against its decay epoch (held-out test set and the authors' augmented-train-split proxy)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    epochs = result["main_eval_epochs"]
    for key, label, color in (("train", "train (subset, no augmentation)", "C0"), ("test", "held-out test", "C1"),
                              ("proxy", "authors' proxy: train split, augmented", "C2")):
        left.plot(epochs, result[f"main_{key}_loss"], color=color, lw=1, label=label)
    for e in result["sub_decay_epochs"]:
        left.axvline(e, color="0.85", lw=0.6, zorder=0)
    left.set(yscale="log", xlabel="epoch", ylabel="MSE loss", title="main path (large LR)")
    left.legend(loc="upper right")
    decay = result["sub_decay_epochs"]
    for key, label, color in (("test", "held-out test", "C1"), ("proxy", "authors' proxy", "C2")):
        right.plot(decay, result[f"sub_{key}_loss"][:, -1], "o-", color=color, ms=4, label=label)
    right.set(xlabel="decay epoch", ylabel="final loss of the subpath", title="subpaths (LR decayed ×0.1)")
    right.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_pca_landscape(result):
    """Train and test loss on the authors' curved PCA surface, with the main path (line) and the subpaths' ends
    (dots, coloured by decay epoch). As in the authors' figure, pc₁ runs along the vertical axis."""
    x1, x2 = result["grid_x1"], result["grid_x2"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), sharey=True, layout="constrained")
    main = result["main_coords"]
    ends = result["sub_coords"][:, -1]
    for ax, key, title in zip(axes, ("grid_train_loss", "grid_test_loss"), ("train loss", "held-out test loss")):
        grid = result[key]  # (x₂, x₁)
        levels = np.geomspace(grid.min(), grid.max(), 20)
        cs = ax.contourf(x2, x1, grid.T, levels=levels, cmap="mako_r", norm=matplotlib.colors.LogNorm())
        fig.colorbar(cs, ax=ax, label=f"{title} (MSE, log scale)", format="%.2g")
        ax.plot(main[:, 1], main[:, 0], color="white", lw=1.4, label="main path")
        ax.plot(main[0, 1], main[0, 0], "o", color="white", mec="k", ms=6, label="start")
        sc = ax.scatter(ends[:, 1], ends[:, 0], c=result["sub_decay_epochs"], cmap="rocket", s=22, edgecolor="k",
                        lw=0.4, zorder=3, label="subpath ends")
        ax.set(title=title, xlabel="pc₂ coordinate")
    axes[0].set_ylabel("pc₁ coordinate")
    fig.colorbar(sc, ax=axes, label="decay epoch of the subpath", location="bottom", shrink=0.4, aspect=40)
    axes[0].legend(loc="lower left", fontsize=8)
    return fig
