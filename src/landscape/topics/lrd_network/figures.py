"""Figures of the late-decay network chapter: the decay sweep and the PCA landscape."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from .analysis import (PAPER_LATE_HALF_R, decay_correlations, final_values, landscape_of, later_half,
                       main_convergence, subpath_converged)


def plot_decay_sweep(result):
    """Late decay on the network, every seed. (a) The main paths' training loss (solid) and held-out test loss
    (dashed) at the large learning rate; the later half of the decay epochs shaded, the window in which the main path
    must have converged before it bracketed. (b) The first seed's held-out test loss: the main path (black) and every
    subpath branching off it with the learning rate decayed. (c) Each subpath's final held-out test loss against its
    decay epoch, per seed (hollow: not converged). (d) The paper's statistic: later half only, each seed's mean
    removed, all seeds pooled, with the least-squares line; the authors' proxy in grey; the paper's r in the
    legend."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.6), layout="constrained")
    (a, b), (c, d) = axes
    seeds = result["seeds"].tolist()
    colors = [f"C{i}" for i in range(len(seeds))]
    decay = result["sub_decay_epochs"]
    late = later_half(result)
    epochs = result["main_eval_epochs"]
    for ax in (a, b, c):
        ax.axvspan(decay[late][0], decay[-1], color="0.92", zorder=0, lw=0)
    for i, seed in enumerate(seeds):
        a.plot(epochs, result["main_train_loss"][i], color=colors[i], lw=0.9, label=f"seed {seed}")
        a.plot(epochs, result["main_test_loss"][i], color=colors[i], lw=0.9, ls="--")
    window = main_convergence(result)[0]["window"]
    a.annotate("", xy=(window[0], 1.4e-3), xytext=(window[1], 1.4e-3),
               arrowprops=dict(arrowstyle="|-|", color="0.3", lw=1, shrinkA=0, shrinkB=0))
    a.text(window[1], 1.1e-3, "convergence window", ha="right", va="top", color="0.3")
    a.set(yscale="log", ylim=(5e-4, 0.7), xlabel="epoch", ylabel="MSE loss",
          title="(a) main paths at LR 0.1: train —, test - -")
    a.legend(loc="upper right")

    offsets = result["sub_eval_offsets"]
    b.plot(epochs, result["main_test_loss"][0], color="k", lw=0.9, zorder=3, label="main path (LR 0.1)")
    cmap = matplotlib.colormaps["rocket"]
    for j, e in enumerate(decay):
        b.plot(e + np.concatenate([[0], offsets]),
               np.concatenate([[result["main_test_loss"][0][epochs == e][0]], result["sub_test_loss"][0, j]]),
               color=cmap(0.15 + 0.7 * j / max(1, len(decay) - 1)), lw=0.9)
    b.plot([], [], color=cmap(0.5), label="subpaths (LR 0.01)")
    start = max(0, decay[0] - 60)
    shown = result["main_test_loss"][0][epochs >= start]
    b.set(xlim=(start, decay[-1] + offsets[-1]), ylim=(0.95 * min(shown.min(), result["sub_test_loss"][0].min()),
                                                        1.05 * shown.max()),
          xlabel="epoch", ylabel="held-out test loss", title=f"(b) seed {seeds[0]}: main path and subpaths")
    b.legend(loc="upper right")

    final = final_values(result, "test_loss")
    converged = subpath_converged(result)
    for i, seed in enumerate(seeds):
        c.plot(decay, final[i], color=colors[i], lw=1, label=f"seed {seed}")
        c.scatter(decay, final[i], s=22, zorder=3, facecolors=np.where(converged[i], colors[i], "none"),
                  edgecolors=colors[i])
    c.set(xlabel="decay epoch", ylabel="final held-out test loss", title="(c) subpaths' final test loss")
    c.legend(loc="upper right")

    corr = decay_correlations(result)
    x = np.broadcast_to(decay[late], final[:, late].shape)
    xc = x - x.mean(axis=1, keepdims=True)
    for name, color, face, label in (("proxy", "0.55", "none", "authors' proxy"), ("test", "C3", "C3", "held-out")):
        values = final_values(result, f"{name}_loss")[:, late]
        yc = values - values.mean(axis=1, keepdims=True)
        r = corr[name]["pooled_r_late_half"]
        d.scatter(x.ravel(), yc.ravel(), s=22, facecolors=face, edgecolors=color,
                  label=f"{label}: pooled r = {r:.2f}")
        if np.any(xc):
            slope = float(np.sum(xc * yc) / np.sum(xc * xc))
            d.plot(decay[late], slope * (decay[late] - decay[late].mean()), color=color, lw=1.2)
    d.axhline(0, color="0.7", lw=0.6, zorder=0)
    d.plot([], [], ls="none", marker="x", color="k", gid="paper",
           label=f"paper (one CIFAR-10 run, epochs 500–1,000): r = {PAPER_LATE_HALF_R}")
    d.set(xlabel="decay epoch (later half)", ylabel="final loss − seed mean", title="(d) the paper's statistic")
    d.legend(loc="upper right")
    return fig


def plot_pca_landscape(result):
    """Train and test loss on the authors' curved PCA surface of the first seed, with its main path (line), its
    subpaths' ends (dots, coloured by decay epoch), the small-rate path from the first decay epoch (dashed: the
    claim's null) and the grid's test-loss minimum (star). As in the authors' figure, pc₁ runs along the vertical
    axis."""
    seed = landscape_of(result, 0)["seed"]
    result = landscape_of(result, 0)
    x1, x2 = result["grid_x1"], result["grid_x2"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharey=True, layout="constrained")
    main = result["main_coords"]
    ends = result["sub_coords"][:, -1]
    for ax, key, title in zip(axes, ("grid_train_loss", "grid_test_loss"), ("train loss", "held-out test loss")):
        grid = result[key]  # (x₂, x₁)
        levels = np.geomspace(grid.min(), grid.max(), 20)
        cs = ax.contourf(x2, x1, grid.T, levels=levels, cmap="mako_r", norm=matplotlib.colors.LogNorm())
        fig.colorbar(cs, ax=ax, label=f"{title} (MSE, log scale)", format="%.2g")
        ax.plot(main[:, 1], main[:, 0], color="white", lw=1.4, label="main path")
        ax.plot(main[0, 1], main[0, 0], "o", color="white", mec="k", ms=6, label="start")
        branch = np.abs(result["main_snapshot_epochs"] - result["sub_decay_epochs"][0]).argmin()
        first = np.vstack([main[branch:branch + 1], result["sub_coords"][0]])
        ax.plot(first[:, 1], first[:, 0], color="C1", lw=1.4, ls="--", zorder=4,
                label=f"small-rate path from epoch {int(result['sub_decay_epochs'][0])}")
        sc = ax.scatter(ends[:, 1], ends[:, 0], c=result["sub_decay_epochs"], cmap="rocket", s=22, edgecolor="k",
                        lw=0.4, zorder=3, label="subpath ends")
        i2, i1 = np.unravel_index(np.argmin(result["grid_test_loss"]), result["grid_test_loss"].shape)
        ax.plot(x2[i2], x1[i1], "*", color="gold", mec="k", ms=11, zorder=5, label="grid's test minimum")
        ax.set(title=f"{title}, seed {seed}", xlabel="pc₂ coordinate")
    axes[0].set_ylabel("pc₁ coordinate")
    fig.colorbar(sc, ax=axes, label="decay epoch of the subpath", location="bottom", shrink=0.4, aspect=40)
    axes[0].legend(loc="upper left", fontsize="small", frameon=True, facecolor="white", framealpha=0.85)
    return fig
