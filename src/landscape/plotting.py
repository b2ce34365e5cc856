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
    """The book's one theme; a DataFrame shown as is prints its floats at the glue precision (`display.SIGNIFICANT`
    significant digits), so that its text holds across CPUs."""
    import pandas as pd

    from .display import SIGNIFICANT

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.95,
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "axes.titleweight": "bold", "legend.frameon": False})
    pd.set_option("display.float_format", f"{{:.{SIGNIFICANT}g}}".format)


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
    config = result.typed_config
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


# ----------------------------------------------------------------------------------------------------------------
# Late learning-rate decay: the nonlinear toy model
# ----------------------------------------------------------------------------------------------------------------

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
    fig, axes = plt.subplots(2, P, figsize=(3.6 * P + 0.9, 7.4), squeeze=False, sharex=True, sharey=True,
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
    """Mean test loss (± s.e. over draws) of the three interpolators of an `analysis.lrd_toy.InterpolatorStudy`
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
    is an `analysis.lrd_toy.ModelChecks`."""
    import torch

    from . import lrd_toy as toy

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
    ratio = torch.linspace(1.0, ratio_max, 400, dtype=torch.float64)
    for ax, q, title in ((axes[0], checks.problem, f"d = {checks.d}, n = {checks.n}"),
                         (axes[1], checks.one_sample[0], "d = 2, n = 1")):
        for gamma in checks.gammas:
            r_mn = toy.min_norm_radius(q.X, q.y, gamma)[0]
            tr = toy.manifold_trace((ratio * r_mn).reshape(1, -1), q.X, q.y, gamma)[0]
            ax.plot(ratio, tr / tr[0], color=GAMMA_COLORS[gamma], lw=1.8, label=f"γ = {gamma:g}")
            r_flat = toy.flattest_radius(q.X, q.y, gamma)[0]
            if r_flat > r_mn * (1 + 1e-9):
                tr_flat = toy.manifold_trace(r_flat.reshape(1, 1), q.X, q.y, gamma)[0, 0]
                ax.plot(float(r_flat / r_mn), float(tr_flat / tr[0]), "D", ms=7, mfc=GAMMA_COLORS[gamma],
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
    fig, axes = plt.subplots(1, P, figsize=(3.9 * P, 3.2), squeeze=False, sharex=True, layout="constrained")
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
    from .analysis.lrd_toy import final, index

    t1 = np.asarray(result["decay_steps"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), layout="constrained")
    for g in result["gammas"]:
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
    from .analysis.lrd_toy import final

    t1 = np.asarray(result["decay_steps"])
    noises = [str(z) for z in result["noises"]]
    fig, axes = plt.subplots(2, len(noises), figsize=(3.9 * len(noises), 6.2), squeeze=False, sharex=True,
                             sharey="row", layout="constrained")
    for c, noise in enumerate(noises):
        for g in result["gammas"]:
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
    from .analysis.lrd_toy import index, main_path

    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.9), layout="constrained")
    gammas = [float(g) for g in result["gammas"]]
    noises = [str(z) for z in result["noises"]]
    styles = {"label": "-", "plain": "--", "isotropic": ":"}
    for g, noise in runs:
        if g not in gammas or noise not in noises:
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

# ------------------------------------------------------------------------------------- ensemble experiments
def mean_confidence_band(values: np.ndarray, axis: int = -1, z: float = 1.96):
    """Mean over `axis` and a normal-approximation 95% confidence band of the mean (NaN-aware)."""
    values = np.asarray(values, dtype=np.float64)
    n = np.sum(np.isfinite(values), axis=axis)
    mean = np.nanmean(values, axis=axis)
    se = np.nanstd(values, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1)) if values.shape[axis] > 1 \
        else np.zeros_like(mean)
    return mean, mean - z * se, mean + z * se


def _band(ax, x, values, color, label=None, ls="-", lw=1.4):
    mean, lo, hi = mean_confidence_band(values)
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
    from .settings import setting_label
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


def plot_cycle_curvature(result, period: int):
    """λ_max, trace (exact and Hutchinson ± 2 s.e.) and valley width along the top eigenvector over one period."""
    start = int(result["snapshot_steps"][0])
    tau = result["snapshot_steps"] - start
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    axes[0].plot(tau, result["snapshot_objective"], "o-", color="C0")
    axes[0].set(ylabel=r"loss $F(\theta_t, t)$", yscale="log", title="depth")
    axes[1].plot(tau, result["hessian_max"], "o-", color="C2")
    axes[1].axhline(2.0, color="C3", ls="--", lw=1, label=r"$2/\eta$")
    axes[1].set(ylabel=r"Hessian $\lambda_{\max}$", yscale="log", title="sharpness")
    axes[1].legend()
    axes[2].plot(tau, result["trace_exact"], "o-", color="C4", label="exact")
    axes[2].errorbar(tau, result["trace_hutchinson"], yerr=2 * result["trace_stderr"], fmt="s", ms=3, color="0.3",
                     capsize=2, label="Hutchinson ± 2 s.e.")
    axes[2].set(ylabel="Hessian trace", yscale="log", title="total curvature")
    axes[2].legend(fontsize=8)
    axes[3].plot(tau, result["width_top"], "o-", color="C1", label="top eigenvector")
    axes[3].plot(tau, result["width_random"], "o--", color="0.5", label="random direction")
    axes[3].set(ylabel="valley width (parameter distance)", title="width at F + 0.05")
    axes[3].legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel(f"τ = t − {start:,} (period {period})")
        ax.axvspan(0.25 * tau[-1], 0.75 * tau[-1], color="0.9", zorder=0)
    fig.tight_layout()
    return fig


def plot_cycle_profiles(result, period: int):
    """The loss along the top Hessian eigenvector (left) and a random direction (right), one line per snapshot."""
    start = int(result["snapshot_steps"][0])
    tau = result["snapshot_steps"] - start
    colors = sns.color_palette("viridis", len(tau))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, name, title in ((axes[0], "profile_top", "along the top eigenvector"),
                            (axes[1], "profile_random", "along a random unit direction")):
        for i, t in enumerate(tau):
            ax.plot(result["alphas"], result[name][i] - result[name][i][len(result["alphas"]) // 2], color=colors[i],
                    lw=1.3, label=f"τ = {t:,}")
        ax.set(xlabel=r"step $\alpha$ along the direction", title=title, ylim=(-0.05, 1.0))
    axes[0].set_ylabel(r"$F(\theta_t + \alpha v, t) - F(\theta_t, t)$")
    axes[0].axhline(0.05, color="0.5", lw=0.8, ls=":")
    axes[1].axhline(0.05, color="0.5", lw=0.8, ls=":")
    axes[1].legend(fontsize=7, ncol=2, title=f"period {period}")
    fig.tight_layout()
    return fig


def plot_cycle_spectra(result, picks, sigma_fraction: float = 0.01):
    """Hessian spectral density at a few snapshots: the SLQ estimate vs the exact spectrum, both Gaussian-smoothed
    (log scale in density; the bulk near 0 and the outliers)."""
    import torch

    from .curvature import exact_density, spectral_density

    start = int(result["snapshot_steps"][0])
    fig, axes = plt.subplots(1, len(picks), figsize=(5 * len(picks), 3.6), sharey=True)
    for ax, i in zip(np.atleast_1d(axes), picks):
        ev = torch.as_tensor(result["eigenvalues"][i])
        lo, hi = float(ev.min()), float(ev.max())
        sigma = sigma_fraction * (hi - lo)
        grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, 800, dtype=torch.float64)
        exact = exact_density(ev, grid, sigma)
        est = spectral_density(torch.as_tensor(result["slq_nodes"][i]), torch.as_tensor(result["slq_weights"][i]),
                               grid, sigma)
        ax.plot(grid, exact, color="0.3", lw=2.2, label="exact (603 eigenvalues)")
        ax.plot(grid, est, color="C1", lw=1.2, label="stochastic Lanczos quadrature")
        ax.set(yscale="log", ylim=(1e-4, None), xlabel="Hessian eigenvalue",
               title=f"τ = {int(result['snapshot_steps'][i]) - start:,}")
    np.atleast_1d(axes)[0].set_ylabel("spectral density")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
