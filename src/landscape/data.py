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


def spiral_split(points_per_class: int = 200, validation_fraction: float = 0.5, noise: float = 0.2, seed: int = 0,
                 split_seed: int = 0, num_classes: int = 3, dtype=torch.float64) -> tuple[Dataset, Dataset]:
    """The authors' spiral generator with `points_per_class` points per class, split at random within each class
    into a training and a held-out validation set (the follow-up paper's split is not known to us; this is ours).

    The points of each set stay ordered by class, as in the authors' training set.
    """
    from .validation import require

    require(0 < validation_fraction < 1, "validation_fraction", "in (0, 1)", validation_fraction)
    x, y = spiral_arrays(points_per_class, num_classes, noise, seed)
    rng = np.random.RandomState(split_seed)
    n_val = int(round(points_per_class * validation_fraction))
    require(0 < n_val < points_per_class, "points_per_class", "large enough for both sets", points_per_class)
    train_idx, val_idx = [], []
    for j in range(num_classes):
        idx = np.nonzero(y == j)[0]
        chosen = np.zeros(len(idx), dtype=bool)
        chosen[rng.permutation(len(idx))[:n_val]] = True
        val_idx.append(idx[chosen])
        train_idx.append(idx[~chosen])
    make = lambda i: Dataset(torch.tensor(x[i], dtype=dtype), torch.tensor(y[i], dtype=torch.long), num_classes,
                             "spiral")
    return make(np.concatenate(train_idx)), make(np.concatenate(val_idx))
