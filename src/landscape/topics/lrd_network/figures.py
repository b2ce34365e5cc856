"""Figures of the late-decay network chapter: the decay sweep and the PCA landscape."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np


def plot_decay_sweep(result):
    """Late decay on the network: left, the main path's losses over epochs with the decay epochs marked; right, each
    subpath's final loss against its decay epoch (held-out test set and the authors' augmented-train-split proxy)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
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
        sc = ax.scatter(ends[:, 1], ends[:, 0], c=result["sub_decay_epochs"], cmap="rocket", s=22, edgecolor="k",
                        lw=0.4, zorder=3, label="subpath ends")
        ax.set(title=title, xlabel="pc₂ coordinate")
    axes[0].set_ylabel("pc₁ coordinate")
    fig.colorbar(sc, ax=axes, label="decay epoch of the subpath", location="bottom", shrink=0.4, aspect=40)
    axes[0].legend(loc="lower left", fontsize="small")
    return fig
