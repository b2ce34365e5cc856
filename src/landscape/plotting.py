"""Figures: one seaborn theme for the whole book and the figure functions the chapters call."""

from __future__ import annotations

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


# ------------------------------------------------------------------------------------- ensemble experiments
def mean_band(values: np.ndarray, axis: int = -1, z: float = 1.96):
    """Mean over `axis` and a normal-approximation 95% confidence band of the mean (NaN-aware)."""
    values = np.asarray(values, dtype=np.float64)
    n = np.sum(np.isfinite(values), axis=axis)
    mean = np.nanmean(values, axis=axis)
    se = np.nanstd(values, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1)) if values.shape[axis] > 1 \
        else np.zeros_like(mean)
    return mean, mean - z * se, mean + z * se


def _band(ax, x, values, color, label=None, ls="-", lw=1.4):
    mean, lo, hi = mean_band(values)
    ax.plot(x, mean, color=color, ls=ls, lw=lw, label=label)
    ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def width_palette(widths):
    """Distinct colours for a few widths (more than 8: a sequential palette)."""
    colors = sns.color_palette("Dark2", len(widths)) if len(widths) <= 8 else sns.color_palette("viridis", len(widths))
    return dict(zip(widths, colors))


def plot_size_lr(result):
    """Follow-up Fig. 1: training loss, validation accuracy and Hessian λ_max over training, per width (colour) and
    learning rate (line style); seed mean with its 95% band; 2/η dashed."""
    widths = result["widths"].tolist()
    lrs = sorted(set(result["member_lr"].tolist()))
    colors, styles = width_palette(widths), dict(zip(lrs, ["-", "--", ":", "-."]))
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for i, w in enumerate(widths):
        for lr in lrs:
            m = result["member_lr"] == lr
            label = f"width {w}, η = {lr:g}"
            _band(axes[0], result["steps"], result["train_loss"][i][:, m], colors[w], label, styles[lr])
            _band(axes[1], result["steps"], result["validation_accuracy"][i][:, m], colors[w], None, styles[lr])
            _band(axes[2], result["hessian_max_steps"], result["hessian_max"][i][:, m], colors[w], None, styles[lr])
    for lr in lrs:
        axes[2].axhline(2 / lr, color=PAPER_COLOR, ls=styles[lr], lw=0.9)
        axes[2].text(result["steps"][-1], 2 / lr * 1.06, f"2/η = {2 / lr:g}", ha="right", va="bottom", fontsize=8,
                     color=PAPER_COLOR)
    axes[0].set(yscale="log", ylabel="training cross-entropy", title="depth: training loss")
    axes[1].set(ylabel="validation accuracy", title="validation accuracy", ylim=(0.25, 1.0))
    axes[2].set(yscale="log", ylabel=r"Hessian $\lambda_{\max}$ of the loss", title=r"sharpness: $\lambda_{\max}$")
    for ax in axes:
        steps_axis(ax, "full-batch GD step")
    axes[0].legend(fontsize=8, ncol=1, loc="lower left")
    fig.tight_layout()
    return fig


def setting_colors(labels):
    """Plain CE/MSE in greys, dynamical settings in colours."""
    plain = [l for l in labels if l.startswith(("CE", "MSE"))]
    dyn = [l for l in labels if l not in plain]
    greys = dict(zip(plain, ["0.2", "0.55", "0.75"][: len(plain)]))
    return {**greys, **dict(zip(dyn, sns.color_palette("colorblind", len(dyn))))}


def plot_accuracy_vs_width(result, columns=("train_accuracy", "validation_accuracy"), axes=None):
    """Seed mean and 95% t-interval of final accuracies against width (log scale), one line per setting."""
    from .analysis.sweeps import final_frame, summary_frame

    frame = final_frame(result)
    if axes is None:
        fig, axes = plt.subplots(1, len(columns), figsize=(6.2 * len(columns), 4), sharey=True)
    axes = np.atleast_1d(axes)
    labels = list(dict.fromkeys(frame.sort_values("setting").label))
    colors = setting_colors(labels)
    for ax, column in zip(axes, columns):
        summary = summary_frame(frame, column)
        for label in labels:
            s = summary[summary.label == label].sort_values("width")
            ax.plot(s.width, s["mean"], "o-", ms=3.5, color=colors[label], label=label,
                    lw=2.0 if label.startswith(("CE", "MSE")) else 1.4)
            ax.fill_between(s.width, s.lower, s.upper, color=colors[label], alpha=0.18, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(frame.width.unique()))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.set(xlabel="hidden width (units)", ylabel=column.replace("_", " "), ylim=(0.25, 1.02),
               title=column.split("_")[0] + " set, end of training")
    axes[0].legend(fontsize=8, loc="upper left")
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_paired_gain(result, reference: int, candidates, column: str = "validation_accuracy", ax=None):
    """Per width: (setting − reference) paired by seed, mean and 95% t-interval, for each candidate setting."""
    from .analysis.sweeps import final_frame, paired_difference, t_interval
    from .experiments.sweeps import setting_label
    from .analysis.sweeps import settings_of

    frame = final_frame(result)
    settings = settings_of(result)
    ax = ax or plt.gca()
    colors = setting_colors([setting_label(s) for s in settings])
    widths = sorted(frame.width.unique())
    for j, k in enumerate(candidates):
        stats_ = np.array([t_interval(paired_difference(frame, w, k, reference, column)) for w in widths])
        offset = 2 ** ((j - (len(candidates) - 1) / 2) * 0.08)
        x = np.array(widths) * offset
        label = setting_label(settings[k])
        ax.errorbar(x, stats_[:, 0], yerr=[stats_[:, 0] - stats_[:, 1], stats_[:, 2] - stats_[:, 0]], fmt="o-",
                    ms=3.5, lw=1.2, capsize=2, color=colors[label], label=label)
    ax.axhline(0, color=PAPER_COLOR, lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set(xlabel="hidden width (units)",
           ylabel=f"{column.replace('_', ' ')} − {setting_label(settings[reference])}")
    ax.legend(fontsize=8)
    return ax


def plot_amp_period(result, columns=("train_accuracy", "validation_accuracy")):
    """Heat maps of seed-mean accuracy over amplitude A (rows; A = 1 is plain CE) and period T (columns), one row of
    panels per width."""
    from .analysis.sweeps import amp_period_grid, final_frame

    frame = final_frame(result)
    widths = sorted(frame.width.unique())
    fig, axes = plt.subplots(len(widths), len(columns), figsize=(5.6 * len(columns), 3.9 * len(widths)))
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


FAMILY_COLORS = {"CE": "0.15", "DCE": "C0", "MSE": "0.6", "DMSE1": "C1", "DMSE2": "C2"}


def plot_loss_families(frame, columns=("validation_accuracy", "train_accuracy")):
    """Accuracy against width per loss family (column `family`), each at its better learning rate per width (by
    seed-mean validation accuracy); mean and 95% t-interval over seeds."""
    from .analysis.sweeps import t_interval

    fig, axes = plt.subplots(1, len(columns), figsize=(6.2 * len(columns), 4), sharey=True)
    axes = np.atleast_1d(axes)
    widths = sorted(frame.width.unique())
    for family in [f for f in FAMILY_COLORS if f in set(frame.family)]:
        sub = frame[frame.family == family]
        best_lr = {w: sub[sub.width == w].groupby("lr").validation_accuracy.mean().idxmax() for w in widths}
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
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
