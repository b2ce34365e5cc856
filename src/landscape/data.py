"""Data sets the book can always make offline, plus CIFAR-10 from a local copy.

A `Dataset` holds tensors `x` (P × features…) and integer labels `y` (P,), and its number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .validation import require_int


@dataclass
class Dataset:
    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str = ""

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device=None, dtype=None) -> "Dataset":
        return Dataset(self.x.to(device=device, dtype=dtype), self.y.to(device), self.num_classes, self.name)

    def subset(self, index) -> "Dataset":
        return Dataset(self.x[index], self.y[index], self.num_classes, self.name)


def spiral_arrays(points_per_class: int = 100, num_classes: int = 3, noise: float = 0.2, seed: int = 0):
    """The authors' spiral, bit for bit: numpy's legacy RNG seeded with `seed`, points ordered by class.

    Class j: r = linspace(0, 1, N); θ = linspace(2πj/C, 2πj/C + 4π, N) + noise·randn(N); x = (r cos θ, r sin θ).
    Uses its own RandomState (the same stream as `np.random.seed(seed)`), leaving numpy's global RNG alone.
    """
    require_int("points_per_class", points_per_class, at_least=1)
    require_int("num_classes", num_classes, at_least=2)
    rng = np.random.RandomState(seed)
    xs, ys = [], []
    for j in range(num_classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        start = 2 * np.pi * j / num_classes
        theta = np.linspace(start, start + 4 * np.pi, points_per_class) + noise * rng.randn(points_per_class)
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(points_per_class, j))
    return np.concatenate(xs), np.concatenate(ys)


def spiral(points_per_class: int = 100, num_classes: int = 3, noise: float = 0.2, seed: int = 0,
           dtype=torch.float64) -> Dataset:
    x, y = spiral_arrays(points_per_class, num_classes, noise, seed)
    return Dataset(torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=torch.long), num_classes, "spiral")
