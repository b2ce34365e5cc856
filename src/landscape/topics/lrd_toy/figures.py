"""Figures of the late-decay toy model (the decay chapter, the picture and the model chapter)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import seaborn as sns

from ...plotting import steps_axis

LR_COLORS = {"large": "#d55e00", "small": "#0072b2"}  # colorblind palette's vermillion and blue
GAMMA_COLORS = {0.0: "0.45", 1.0: sns.color_palette("colorblind")[0], 2.0: sns.color_palette("colorblind")[2]}
NOISE_COLORS = {"label": sns.color_palette("colorblind")[0], "plain": sns.color_palette("colorblind")[1],
                "isotropic": sns.color_palette("colorblind")[4]}
NOISE_TITLES = {"label": "label-noise SGD", "plain": "plain minibatch SGD", "isotropic": "isotropic parameter noise"}


def mean_band(ax, x, values, *, color, label=None, band="range", marker="o", lw=1.6, alpha=0.2, **kw):
    """The mean over axis 0 (seeds) as a line, with a band: the seeds' range ("range") or ± one standard error
    ("se"). NaN entries (diverged runs) are left out of both."""
    values = np.asarray(values, dtype=float)
    mean = np.nanmean(values, axis=0)
    if band == "range":
        lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    elif band == "se":
        se = np.nanstd(values, axis=0, ddof=1) / np.sqrt(np.sum(np.isfinite(values), axis=0))
        lo, hi = mean - se, mean + se
    else:
        raise ValueError(f"band={band!r} is not allowed: band must be 'range' or 'se'")
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0)
    ax.plot(x, mean, color=color, label=label, marker=marker, lw=lw, ms=4 if marker else None, **kw)
    return ax


def _log_levels(values, count=12, floor=1e-4):
    lo = max(float(np.nanmin(values)), floor)
    return np.logspace(np.log10(lo), np.log10(float(np.nanmax(values))), count)


def plot_lrd_picture(result, *, trajectory_every: int = 1):
    """The 2-D picture (d = 2, n = 1) of a stored `lrd_toy_picture` result: one column per seed; top row the training
    loss with its curved valley of minima M, bottom row the test loss with its bowl around w* = φ⁻¹(α*); both rows
    carry the trajectories at the large and the small learning rate, w₀, w_mn and the flattest points of M."""
    from matplotlib.colors import LogNorm

    seeds = list(result["seeds"])
    lrs = result["lrs"]
    w1, w2 = result["grid_w1"], result["grid_w2"]
    extent = (w1[0], w1[-1], w2[0], w2[-1])
    P = len(seeds)
    fig, axes = plt.subplots(2, P, figsize=(min(3.6 * P + 0.9, 10), 7.4), squeeze=False, sharex=True, sharey=True,
                             layout="constrained")
    rows = [("train_loss_grid", "training loss $\\hat L(w)$", "mako"), ("test_loss_grid", "test loss $L(w)$", "rocket")]
    for r, (key, label, cmap) in enumerate(rows):
        grids = result[key]
        norm = LogNorm(vmin=max(float(grids.min()), 1e-3), vmax=float(grids.max()))
        for p in range(P):
            ax = axes[r, p]
            im = ax.imshow(np.clip(grids[p], norm.vmin, None), origin="lower", extent=extent, cmap=cmap, norm=norm,
                           aspect="equal", interpolation="bilinear", alpha=0.85)
            ax.contour(w1, w2, grids[p], levels=_log_levels(grids[p], 10, norm.vmin), colors="white",
                       linewidths=0.4, alpha=0.6)
            valley = result["valley"][p]
            ax.plot(valley[:, 0], valley[:, 1], color="white", lw=2.2, ls="-", alpha=0.9)
            ax.plot(valley[:, 0], valley[:, 1], color="black", lw=0.9, ls="--", label="valley of minima M")
            for i, (which, lr) in enumerate(zip(("large", "small"), lrs)):
                path = result["trajectory"][p, i, ::trajectory_every]
                ax.plot(path[:, 0], path[:, 1], color=LR_COLORS[which], lw=0.7 if which == "large" else 1.4,
                        alpha=0.8 if which == "large" else 1.0, label=f"{which} LR, η = {lr:g}")
                end = path[np.isfinite(path[:, 0])][-1]
                ax.plot(*end, "o", ms=6, mfc=LR_COLORS[which], mec="white", mew=1.0)
            ax.plot(*result["w0"][p], "o", ms=7, mfc="white", mec="black", mew=1.2, label="start $w_0$")
            ax.plot(*result["w_mn"][p], "*", ms=13, mfc="gold", mec="black", mew=0.8,
                    label="min-norm $w_{mn}$")
            ax.plot(*result["w_star"][p], "X", ms=9, mfc="white", mec="black", mew=0.8,
                    label="test minimum $w^*$")
            flat = result["w_flat"][p]
            ax.plot(flat[:, 0], flat[:, 1], "D", ms=6, mfc="#cc79a7", mec="black", mew=0.8,
                    label="flattest points of M")
            ax.set(xlim=extent[:2], ylim=extent[2:])
            if r == 0:
                ax.set_title(f"seed {seeds[p]}")
            if r == 1:
                ax.set_xlabel("$w_1$")
            if p == 0:
                ax.set_ylabel("$w_2$")
            ax.grid(False)
        fig.colorbar(im, ax=axes[r, :].tolist(), label=label, shrink=0.9, pad=0.02)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False)
    return fig


def plot_interpolator_study(study):
    """Mean test loss (± s.e. over draws) of the three interpolators of an `analysis.InterpolatorStudy`
    against n/d, with each closed form dashed."""
    fig, ax = plt.subplots(figsize=(7, 4))
    palette = dict(zip(study.factor, sns.color_palette("colorblind", len(study.factor))))
    sns.lineplot(data=study.simulated, x="n/d", y="test loss", hue="interpolator", errorbar="se", palette=palette,
                 marker="o", markersize=4, ax=ax)
    for name in study.factor:
        ax.plot(np.arange(1, study.d) / study.d, [study.closed_form(name, n_) for n_ in range(1, study.d)],
                color=palette[name], ls="--", lw=1)
    ax.set(xlabel="sampling ratio n / d", ylabel="mean test loss $L$", ylim=(0, None))
    ax.legend(title=None, loc="upper right")
    fig.tight_layout()
    return fig


def plot_lrd_manifold_trace(checks, ratio_max: float = 2.0):
    """tr ∇²L̂ on the valley M against r / r_mn, relative to its value at w_mn, per γ: left the chapter's training
    set, right the first one-sample set of the 2-D picture; a diamond marks a flattest point away from w_mn. `checks`
    is an `analysis.ModelChecks`."""
    import torch

    from . import model as toy

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
    ratio = torch.linspace(1.0, ratio_max, 400, dtype=torch.float64)
    for ax, q, title in ((axes[0], checks.problem, f"d = {checks.d}, n = {checks.n}"),
                         (axes[1], checks.one_sample[0], "d = 2, n = 1")):
        for exponent in checks.exponents:
            r_mn = toy.min_norm_radius(q.X, q.y, exponent)[0]
            tr = toy.manifold_trace((ratio * r_mn).reshape(1, -1), q.X, q.y, exponent)[0]
            ax.plot(ratio, tr / tr[0], color=GAMMA_COLORS[exponent], lw=1.8, label=f"γ = {exponent:g}")
            r_flat = toy.flattest_radius(q.X, q.y, exponent)[0]
            if r_flat > r_mn * (1 + 1e-9):
                tr_flat = toy.manifold_trace(r_flat.reshape(1, 1), q.X, q.y, exponent)[0, 0]
                ax.plot(float(r_flat / r_mn), float(tr_flat / tr[0]), "D", ms=7, mfc=GAMMA_COLORS[exponent],
                        mec="black")
        ax.set(xlabel="$r\\,/\\,r_{mn}$ along M", title=title)
        ax.legend(loc="upper left")
    axes[0].set(ylabel="tr $\\nabla^2\\hat L$ / tr at $w_{mn}$")
    return fig


def plot_lrd_picture_norms(result):
    """‖w_t‖ along the two trajectories of a stored `lrd_toy_picture` result, one panel per seed, with the radius of
    w_mn (the smallest ‖w‖ on M) and that of the flattest points of M. On the valley, ‖w‖ says how far along it the
    iterate sits, on either side of w_mn."""
    seeds = list(result["seeds"])
    P = len(seeds)
    steps = result["log_steps"]
    fig, axes = plt.subplots(1, P, figsize=(min(3.9 * P, 10), 3.2), squeeze=False, sharex=True, layout="constrained")
    for p, ax in enumerate(axes[0]):
        for i, (which, lr) in enumerate(zip(("large", "small"), result["lrs"])):
            ax.plot(steps, result["norm_curve"][p, i], color=LR_COLORS[which], lw=0.8 if which == "large" else 1.5,
                    alpha=0.85 if which == "large" else 1.0, label=f"{which} LR, η = {lr:g}")
        ax.axhline(result["norm_mn"][p], color="black", ls="--", lw=1, label="$\\|w_{mn}\\|$ (smallest on M)")
        ax.axhline(result["norm_flat"][p], color="#cc79a7", ls=":", lw=1.8, label="$\\|w\\|$ of the flattest points")
        ax.set(title=f"seed {seeds[p]}")
        steps_axis(ax)
    axes[0, 0].set_ylabel("$\\|w_t\\|$")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, frameon=False)
    return fig


def _decay_axis(ax, label="decay step $T_1$"):
    """T₁ on a linear axis in thousands of steps; the swept values are the markers."""
    steps_axis(ax, label)
    ax.set_xlim(left=-0.03 * ax.get_xlim()[1])


def plot_lrd_decay(result, noise: str = "label"):
    """Against the decay step T₁, for every stored γ and one noise model: the final test loss (left), the same relative
    to each seed's L(w_mn) (middle) and the distance to w_mn (right). Seed mean with the seeds' range as a band."""
    from .analysis import final, index

    t1 = np.asarray(result["decay_steps"])
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
    for g in result["exponents"]:
        color = GAMMA_COLORS.get(float(g), None)
        gi, _ = index(result, g, noise)
        loss = final(result, "test_loss", g, noise)
        mean_band(axes[0], t1, loss, color=color, label=f"γ = {g:g}")
        mean_band(axes[1], t1, loss / result["test_loss_mn"][:, gi, None], color=color, label=f"γ = {g:g}")
        mean_band(axes[2], t1, final(result, "dist_mn", g, noise), color=color, label=f"γ = {g:g}")
    axes[0].axhline(result["test_loss_mn"].mean(), color="black", ls="--", lw=1,
                    label="$L(w_{mn})$, seed mean")
    axes[1].axhline(1.0, color="black", ls="--", lw=1)
    axes[0].set(ylabel="final test loss $L(w)$", ylim=(0, None))
    axes[1].set(ylabel="final $L(w)\\,/\\,L(w_{mn})$ of the same seed", ylim=(0, None))
    axes[2].set(ylabel="final $\\|w - w_{mn}\\|$", yscale="log")
    for ax in axes:
        _decay_axis(ax)
    axes[0].legend(loc="upper right")
    return fig


def plot_lrd_noise_models(result):
    """Final test loss (top) and ‖w − w_mn‖ (bottom) against T₁, one column per noise model, one line per γ
    (seed mean, seeds' range as a band). Log scales: the noise models differ by orders of magnitude."""
    from .analysis import final

    t1 = np.asarray(result["decay_steps"])
    noises = [str(z) for z in result["noises"]]
    fig, axes = plt.subplots(2, len(noises), figsize=(min(3.9 * len(noises), 10), 6.2), squeeze=False, sharex=True,
                             sharey="row", layout="constrained")
    for c, noise in enumerate(noises):
        for g in result["exponents"]:
            color = GAMMA_COLORS.get(float(g), None)
            mean_band(axes[0, c], t1, final(result, "test_loss", g, noise), color=color, label=f"γ = {g:g}")
            mean_band(axes[1, c], t1, final(result, "dist_mn", g, noise), color=color, label=f"γ = {g:g}")
        axes[0, c].axhline(result["test_loss_mn"].mean(), color="black", ls="--", lw=1, label="$L(w_{mn})$, seed mean")
        axes[0, c].set(title=NOISE_TITLES.get(noise, noise), yscale="log")
        axes[1, c].set(yscale="log")
        _decay_axis(axes[1, c])
        axes[0, c].set_xlabel("")
    from matplotlib.ticker import FixedLocator, NullLocator

    axes[0, 0].yaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5, 10, 20]))
    axes[0, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0, 0].yaxis.set_minor_locator(NullLocator())
    axes[0, 0].set_ylabel("final test loss $L(w)$")
    axes[1, 0].set_ylabel("final $\\|w - w_{mn}\\|$")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    return fig


def plot_lrd_main_path(result, runs=((1.0, "label"), (2.0, "label"), (1.0, "plain"), (1.0, "isotropic")),
                       smooth_steps: int = 2500):
    """Along the main path (the longest large-LR phase, up to its decay), per (γ, noise) run, seed mean with the seeds'
    range: the Hessian trace relative to its value at w_mn (left; a running mean over `smooth_steps` steps, because the
    noisy iterate sits slightly off M and its trace jitters; w₀ itself is left out) and ‖w‖ relative to ‖w_mn‖
    (right, as logged)."""
    from .analysis import index, main_path

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
    exponents = [float(g) for g in result["exponents"]]
    noises = [str(z) for z in result["noises"]]
    styles = {"label": "-", "plain": "--", "isotropic": ":"}
    for g, noise in runs:
        if g not in exponents or noise not in noises:
            continue
        gi, _ = index(result, g, noise)
        color = GAMMA_COLORS.get(g) if noise == "label" else NOISE_COLORS[noise]
        label = f"γ = {g:g}, {noise} noise"
        steps, trace = main_path(result, "trace", g, noise)
        _, norm = main_path(result, "norm", g, noise)
        every = max(int(steps[1] - steps[0]), 1) if len(steps) > 1 else 1
        window = max(smooth_steps // every, 1)
        rel = trace[:, 1:] / result["trace_mn"][:, gi, None]
        kernel = np.ones(window) / window
        smoothed = np.stack([np.convolve(row, kernel, mode="valid") for row in rel])
        mean_band(axes[0], steps[1:][window - 1:], smoothed, color=color, label=label, marker=None, lw=1.4,
                  ls=styles[noise])
        mean_band(axes[1], steps, norm / result["norm_mn"][:, gi, None], color=color, label=label, marker=None,
                  lw=1.3, ls=styles[noise])
    for ax in axes:
        ax.axhline(1.0, color="black", lw=0.8)
        steps_axis(ax, "step t of the large-LR phase")
    axes[0].set(ylabel=f"tr $\\nabla^2\\hat L(w_t)$ / tr at $w_{{mn}}$\n(running mean over {smooth_steps / 1000:g}k steps)")
    axes[1].set(ylabel="$\\|w_t\\| \\,/\\, \\|w_{mn}\\|$")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    return fig


def plot_notes_check(result):
    """Our final test losses against T₁ beside the independent numpy check of the paper notes (analysis.NOTES_*), one
    panel per (noise, γ) that both have: the notes' one training set (black crosses), our first seed (dashed) and
    our seed mean with the seeds' range. The notes' w₀ and teacher are not ours, so agreement is in kind."""
    from .analysis import NOTES_FINAL_TEST_LOSS, final

    t1 = np.asarray(result["decay_steps"])
    noises = [str(z) for z in result["noises"]]
    pairs = [(n, g) for n, g in NOTES_FINAL_TEST_LOSS if n in noises and g in list(result["exponents"])]
    columns = min(len(pairs), 2)
    rows = -(-len(pairs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(8, 2.9 * rows + 0.6), squeeze=False, sharey=True, sharex=True,
                             layout="constrained")
    from matplotlib.ticker import FixedLocator, NullLocator

    for ax, (noise, g) in zip(axes.flat, pairs):
        loss = final(result, "test_loss", g, noise)
        color = NOISE_COLORS.get(noise)
        mean_band(ax, t1, loss, color=color, label="ours: seed mean, range")
        ax.plot(t1, loss[0], color=color, ls="--", lw=1, label=f"ours: seed {int(result['seeds'][0])}")
        ref = NOTES_FINAL_TEST_LOSS[(noise, g)]
        ax.plot(list(ref), list(ref.values()), "x", color="k", ms=7, mew=1.6, label="notes' check (one set)")
        ax.set(title=f"{NOISE_TITLES.get(noise, noise)}, γ = {g:g}", yscale="log")
        ax.yaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    for ax in axes[-1]:
        _decay_axis(ax)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("final test loss $L(w)$")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    return fig
