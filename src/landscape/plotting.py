"""Figures: one seaborn theme for the whole book and the generic plot helpers (each topic draws its own figures in
`landscape.topics.<topic>.figures`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import seaborn as sns

from .losses import GammaSchedule
from .statistics import t_interval

CLASS_COLORS = sns.color_palette("colorblind", 10)
PAPER_COLOR = "0.35"
BOOK_WIDTH_PX = 760  # the book's content column in a 1,400 px wide browser window: wider figures are scaled down
MIN_TEXT_PX = 9  # the smallest text a figure may show at that width
MAX_PANELS = 6  # a figure with more panels is split
FIGURE_DPI = 100  # the theme's figure.dpi: inches × FIGURE_DPI = the PNG's width in pixels


def displayed_text_px(fig) -> float:
    """The size, in CSS pixels, of the smallest text of `fig` as the book shows it: the PNG is fig width × dpi
    pixels wide and is scaled down to BOOK_WIDTH_PX when it is wider."""
    from matplotlib.text import Text

    fig.canvas.draw()
    scale = min(1.0, BOOK_WIDTH_PX / (fig.get_figwidth() * fig.dpi))
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) * fig.dpi / 72 * scale if sizes else float("inf")


def panel_count(fig) -> int:
    """The panels of a figure (colour bars are not panels)."""
    return sum(ax.get_label() != "<colorbar>" for ax in fig.axes)


def set_theme() -> None:
    """The book's one theme; a DataFrame shown as is prints its floats at the glue precision (`display.SIGNIFICANT`
    significant digits), so that its text holds across CPUs."""
    import pandas as pd

    from .display import SIGNIFICANT

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.95,
                  rc={"figure.dpi": FIGURE_DPI, "savefig.dpi": 150, "axes.titleweight": "bold", "legend.frameon": False})
    pd.set_option("display.float_format", f"{{:.{SIGNIFICANT}g}}".format)


def steps_axis(ax, label: str = "step t") -> None:
    """Steps in thousands (10k, 20k …) so long runs keep readable ticks."""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))
    ax.set_xlabel(label)


def plot_gammas(gammas, steps: int | None = None, ax=None, every: int = 10):
    """Γ_i(t) for each class: `gammas` a GammaSchedule drawn over steps 0 … `steps`, or a stored (step, class) array
    of Γ (a result's `gamma`) drawn over its own steps."""
    ax = ax or plt.gca()
    if isinstance(gammas, GammaSchedule):
        t = np.arange(0, steps + 1, every)
        g = gammas.gammas(t)
    else:
        table = np.asarray(gammas)
        t = np.arange(0, len(table) if steps is None else min(steps + 1, len(table)), every)
        g = table[t]
    classes = g.shape[1]
    for i in range(classes):
        ax.plot(t, g[:, i], color=CLASS_COLORS[i], lw=1.2, label=f"class {i}")
    ax.set(ylabel=r"$\Gamma_i(t)$", ylim=(0, 3.9 * classes / 3))
    steps_axis(ax)
    return ax


# ------------------------------------------------------------------------------------- ensemble experiments
def mean_confidence_band(values: np.ndarray, axis: int = -1, clip=None):
    """Mean over `axis` and the 95 % Student-t interval of the mean (`statistics.t_interval`, the book's one interval;
    NaN dropped: each position over its finite values; one value: a band of zero width); `clip=(lo, hi)` keeps the
    band inside the quantity's range (an accuracy band never runs above 1). With few runs the band is wider than a
    normal-approximation one (±1.96 SE): t(0.975, n − 1) is 2.78 at n = 5, 2.26 at 10, 2.09 at 20."""
    mean, lo, hi = t_interval(values, axis=axis)
    if clip is not None:
        lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
    return mean, lo, hi


def width_palette(widths):
    """Distinct colours for a few widths (more than 8: a sequential palette)."""
    colors = sns.color_palette("Dark2", len(widths)) if len(widths) <= 8 else sns.color_palette("viridis", len(widths))
    return dict(zip(widths, colors))
