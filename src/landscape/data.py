"""Data sets the book can always make offline, plus CIFAR-10 from a local copy.

A `Dataset` holds tensors `x` (P × features…) and integer labels `y` (P,), and its number of classes.
"""

from __future__ import annotations

import functools
import random
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


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int):
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()  # make_dataset reseeds both global RNGs
    try:
        args = get_dataset_args()
        args.seed = seed
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return data["x"], data["y"], data["x_test"], data["y_test"]


def mnist1d(seed: int = 42, dtype=torch.float32) -> tuple[Dataset, Dataset]:
    """MNIST-1D (Greydanus 2020), generated offline: 4,000 training and 1,000 test signals of length 40, 10 classes.

    Returned as (train, test) with x of shape (N, 1, 40) for 1-D convolutions. seed 42 is the package's default.
    """
    x, y, xt, yt = _mnist1d_arrays(seed)
    to = lambda a, b: Dataset(torch.tensor(a, dtype=dtype).unsqueeze(1), torch.tensor(b, dtype=torch.long), 10,
                              "mnist1d")
    return to(x, y), to(xt, yt)


def balanced_subset(data: Dataset, per_class: int, seed: int = 0) -> Dataset:
    """A class-balanced random subset with `per_class` samples of each class (as the late-decay authors' CIFAR-10
    subset), in a seeded random order."""
    require_int("per_class", per_class, at_least=1)
    rng = np.random.RandomState(seed)
    labels = data.y.cpu().numpy()
    picks = []
    for c in range(data.num_classes):
        idx = np.nonzero(labels == c)[0]
        if len(idx) < per_class:
            raise ValueError(f"per_class={per_class} is not allowed: class {c} has only {len(idx)} samples")
        picks.append(rng.choice(idx, per_class, replace=False))
    order = rng.permutation(np.concatenate(picks))
    return data.subset(torch.as_tensor(order))


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each 1-D signal by a random integer in [−max_shift, max_shift] with zero padding — the 1-D analogue of
    CIFAR's random crop with padding."""
    n, length = x.shape[0], x.shape[-1]
    padded = torch.nn.functional.pad(x, (max_shift, max_shift))
    offsets = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    index = (offsets[:, None] + torch.arange(length)[None, :]).to(x.device)
    return torch.gather(padded, -1, index.unsqueeze(1).expand(-1, x.shape[1], -1))
