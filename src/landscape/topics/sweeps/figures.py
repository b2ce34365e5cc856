"""Figures shared by the sweep chapters (capacity, image): accuracy against width and paired gains."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import seaborn as sns

from ...plotting import PAPER_COLOR


def setting_colors(labels):
    """Plain CE/MSE in greys, dynamical settings in colours."""
    plain = [l for l in labels if l.startswith(("CE", "MSE"))]
    dyn = [l for l in labels if l not in plain]
    greys = dict(zip(plain, ["0.2", "0.55", "0.75"][: len(plain)]))
    return {**greys, **dict(zip(dyn, sns.color_palette("colorblind", len(dyn))))}


def plot_accuracy_vs_width(result, columns=("train_accuracy", "validation_accuracy"), axes=None):
    """Mean and 95% t-interval over the evaluation runs of final accuracies against width (log scale), one line per
    setting."""
    from .analysis import evaluation_frame, summary_frame

    frame = evaluation_frame(result)
    if axes is None:
        fig, axes = plt.subplots(1, len(columns), figsize=(min(5 * len(columns), 10), 4), sharey=True)
    axes = np.atleast_1d(axes)
    labels = list(dict.fromkeys(frame.sort_values("setting").label))
    colors = setting_colors(labels)
    for ax, column in zip(axes, columns):
        summary = summary_frame(frame, column)
        for label in labels:
            s = summary[summary.label == label].sort_values("width")
            ax.plot(s.width, s["mean"], "o-", ms=3.5, color=colors[label], label=label,
                    lw=2.0 if label.startswith(("CE", "MSE")) else 1.4)
            # an accuracy's interval is clipped to [0, 1]
            ax.fill_between(s.width, s.lower.clip(0, 1), s.upper.clip(0, 1), color=colors[label], alpha=0.18, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(frame.width.unique()))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.set(xlabel="hidden width (units)", ylabel=column.replace("_", " "), ylim=(0.25, 1.02),
               title=column.split("_")[0] + " set, end of training")
    axes[0].legend(fontsize="small", loc="upper left")
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_paired_gain(result, reference: int, candidates, column: str = "validation_accuracy", ax=None):
    """Per width: (setting − reference) paired by seed, mean and 95% t-interval, for each candidate setting."""
    from .analysis import evaluation_frame, paired_difference
    from ...statistics import t_interval
    from ...settings import setting_label
    from .analysis import settings_of

    frame = evaluation_frame(result)
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
    ax.legend(fontsize="small")
    return ax


def plot_validation_curves(result, reference: int, setting: int):
    """Seed-mean validation accuracy during training, one colour per width: the `reference` setting (plain CE, solid)
    and `setting` (the dynamical loss, dashed)."""
    from ...plotting import steps_axis, width_palette

    widths = result["widths"].tolist()
    colors = width_palette(widths)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for i, w in enumerate(widths):
        for k, ls in ((reference, "-"), (setting, "--")):
            members = (result["member_setting"] == k) & (result["member_role"] == "evaluation"
                                                          if "member_role" in result else True)
            ax.plot(result["steps"], np.nanmean(result["validation_accuracy"][i][:, members], axis=1), ls,
                    color=colors[w], label=f"{w} channels, {'CE' if k == reference else 'dynamical'}")
    ax.set(ylabel="validation accuracy", ylim=(0, 1))
    steps_axis(ax, "full-batch GD step")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    return fig
