"""The late-decay authors' PCA landscape: PCA of flattened checkpoints, a quadratic correction along the third
component, and a grid on the curved surface

    θ(x₁, x₂) = center + x₁·pc₁ + x₂·pc₂ + (a x₁² + b x₁ + c)·pc₃,

on which train and test losses are evaluated. A building block below both the experiment that computes the landscape
(`topics/lrd_network/experiment.py`) and the claims that read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PCASurface:
    center: torch.Tensor  # (P,)
    components: torch.Tensor  # (k, P), orthonormal rows
    explained_variance_ratio: np.ndarray  # (k,)
    quadratic: np.ndarray  # (a, b, c) of c₃ ≈ a c₁² + b c₁ + c

    def coordinates(self, points: torch.Tensor) -> torch.Tensor:
        """PCA coordinates (N, k) of flattened parameter vectors (N, P)."""
        return (points - self.center) @ self.components.T

    def point(self, x1: float, x2: float) -> torch.Tensor:
        a, b, c = self.quadratic
        return self.center + x1 * self.components[0] + x2 * self.components[1] + (a * x1 ** 2 + b * x1 + c) * \
            self.components[2]


def fit_pca_surface(points: torch.Tensor, components: int = 5) -> PCASurface:
    """PCA of the rows of `points` (N, P) and the least-squares quadratic c₃ ≈ a c₁² + b c₁ + c."""
    if points.ndim != 2 or points.shape[0] < 3:
        raise ValueError(f"points must be (N ≥ 3, P); got {tuple(points.shape)}")
    points = points.double()
    center = points.mean(0)
    _, s, vh = torch.linalg.svd(points - center, full_matrices=False)
    k = min(components, vh.shape[0])
    # fix each component's sign so that the result does not depend on the SVD backend
    signs = torch.sign(vh[:k].sum(1, keepdim=True)).clamp_min(0) * 2 - 1
    comps = vh[:k] * signs
    ratio = (s[:k] ** 2 / (s ** 2).sum()).numpy()
    coords = ((points - center) @ comps.T).numpy()
    quad = np.polyfit(coords[:, 0], coords[:, 2], 2) if k >= 3 else np.zeros(3)
    return PCASurface(center, comps, ratio, quad)


def grid_axes(coords: np.ndarray, shape: tuple[int, int], margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid axes for (x₁, x₂) spanning the coordinates with a relative margin on each side."""
    axes = []
    for j, n in enumerate(shape):
        lo, hi = coords[:, j].min(), coords[:, j].max()
        pad = margin * (hi - lo)
        axes.append(np.linspace(lo - pad, hi + pad, n))
    return axes[0], axes[1]


def nearest_grid_values(grid: np.ndarray, x1_axis: np.ndarray, x2_axis: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """grid[i2, i1] at the grid node nearest to each (x₁, x₂)."""
    i1 = np.abs(x1_axis[None, :] - coords[:, :1]).argmin(1)
    i2 = np.abs(x2_axis[None, :] - coords[:, 1:2]).argmin(1)
    return grid[i2, i1]


# The arrays a stored PCA landscape is made of (the experiments that store one name them so; readers take them)
LANDSCAPE_ARRAYS = ("main_coords", "sub_coords", "explained_variance_ratio", "quadratic", "grid_x1", "grid_x2",
                    "grid_train_loss", "grid_test_loss")
