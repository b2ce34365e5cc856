"""Figures of the cycle chapter: curvature, profiles and spectra over one period."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import seaborn as sns


def plot_cycle_curvature(result, period: int):
    """λ_max, trace (exact and Hutchinson ± 2 s.e.) and valley width along the top eigenvector over one period."""
    start = int(result["snapshot_steps"][0])
    tau = result["snapshot_steps"] - start
    fig, axes = plt.subplots(2, 2, figsize=(9.6, 6.6))
    axes = axes.ravel()
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
    axes[2].legend()
    axes[3].plot(tau, result["width_top"], "o-", color="C1", label="top eigenvector")
    axes[3].plot(tau, result["width_random"], "o--", color="0.5", label="random direction")
    axes[3].set(ylabel="valley width (parameter distance)", title="width at F + 0.05")
    axes[3].legend()
    for ax in axes:
        ax.set_xlabel(f"τ = t − {start:,} (period {period})" if ax in axes[2:] else "")
        ax.axvspan(0.25 * tau[-1], 0.75 * tau[-1], color="0.9", zorder=0)
    fig.tight_layout()
    return fig


def plot_cycle_profiles(result, period: int):
    """The loss along the top Hessian eigenvector (left) and a random direction (right), one line per snapshot."""
    start = int(result["snapshot_steps"][0])
    tau = result["snapshot_steps"] - start
    colors = sns.color_palette("viridis", len(tau))
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2), sharey=True)
    for ax, name, title in ((axes[0], "profile_top", "along the top eigenvector"),
                            (axes[1], "profile_random", "along a random unit direction")):
        for i, t in enumerate(tau):
            ax.plot(result["alphas"], result[name][i] - result[name][i][len(result["alphas"]) // 2], color=colors[i],
                    lw=1.3, label=f"τ = {t:,}")
        ax.set(xlabel=r"step $\alpha$ along the direction", title=title, ylim=(-0.05, 1.0))
        ax.xaxis.set_major_locator(MaxNLocator(5))  # few ticks: their labels must not run into each other
    axes[0].set_ylabel(r"$F(\theta_t + \alpha v, t) - F(\theta_t, t)$")
    axes[0].axhline(0.05, color="0.5", lw=0.8, ls=":")
    axes[1].axhline(0.05, color="0.5", lw=0.8, ls=":")
    axes[1].legend(ncol=2, title=f"period {period}", fontsize="small", title_fontsize="small")
    fig.tight_layout()
    return fig


def plot_cycle_spectra(result, picks, sigma_fraction: float = 0.01):
    """Hessian spectral density at a few snapshots: the SLQ estimate vs the exact spectrum, both Gaussian-smoothed
    (log scale in density; the bulk near 0 and the outliers)."""
    import torch

    from ...estimators import exact_density, spectral_density

    start = int(result["snapshot_steps"][0])
    fig, axes = plt.subplots(1, len(picks), figsize=(min(3.3 * len(picks), 10), 4.2), sharey=True,
                             layout="constrained")
    for ax, i in zip(np.atleast_1d(axes), picks):
        ev = torch.as_tensor(result["eigenvalues"][i])
        lo, hi = float(ev.min()), float(ev.max())
        sigma = sigma_fraction * (hi - lo)
        grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, 800, dtype=torch.float64)
        exact = exact_density(ev, grid, sigma)
        est = spectral_density(torch.as_tensor(result["slq_nodes"][i]), torch.as_tensor(result["slq_weights"][i]),
                               grid, sigma)
        # the estimate underneath, the exact curve dashed on top: both stay visible where they agree
        ax.plot(grid, est, color="C1", lw=2.6, alpha=0.75, label="stochastic Lanczos quadrature")
        ax.plot(grid, exact, color="k", lw=1.0, ls=(0, (4, 2)), label=f"exact ({len(ev)} eigenvalues)")
        ax.set(yscale="log", ylim=(1e-4, None), xlabel="Hessian eigenvalue",
               title=f"τ = {int(result['snapshot_steps'][i]) - start:,}")
    np.atleast_1d(axes)[0].set_ylabel("spectral density")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)  # below the panels, off the curves
    return fig
