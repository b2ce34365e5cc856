"""Data sets the book can always make offline, plus CIFAR-10 from a local copy.

A `Dataset` holds tensors `x` (P × features…) and integer labels `y` (P,), and its number of classes.
"""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .models import float_dtype, torch_device
from .validation import UserError, normalize_fields, require, require_finite, require_int

SEED_MAX = 2 ** 32 - 1  # numpy's legacy seeds


@dataclass
class Dataset:
    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str = ""

    def __post_init__(self):
        """Checked once where the data are built: shapes, label type and label range."""
        require(isinstance(self.x, torch.Tensor) and self.x.is_floating_point() and self.x.dim() >= 2, "x",
                "a floating-point tensor of shape (P, features…)", _describe(self.x))
        require(isinstance(self.y, torch.Tensor) and self.y.dtype == torch.int64, "y",
                "integer class labels: an int64 (torch.long) tensor (float labels: convert with .long())",
                _describe(self.y))
        require(self.y.dim() == 1, "y", "an int64 (torch.long) tensor of shape (P,)", _describe(self.y))
        require(len(self.y) == len(self.x) > 0, "y", f"one label per sample of x ({len(self.x)} samples, at least 1)",
                _describe(self.y))
        require_int("num_classes", self.num_classes, at_least=1)
        low, high = int(self.y.min()), int(self.y.max())
        require(low >= 0 and high < self.num_classes, "y", f"labels in 0 … num_classes − 1 = {self.num_classes - 1}",
                f"labels in {low} … {high}")

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device=None, dtype=None) -> "Dataset":
        device = torch_device(device)
        dtype = None if dtype is None else float_dtype(dtype)
        return Dataset(self.x.to(device=device, dtype=dtype), self.y.to(device), self.num_classes, self.name)

    def subset(self, index) -> "Dataset":
        return Dataset(self.x[index], self.y[index], self.num_classes, self.name)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of dtype {str(value.dtype).removeprefix('torch.')} and shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _require_seed(field: str, seed) -> None:
    require_int(field, seed)
    require(seed <= SEED_MAX, field, f"an integer in 0 … {SEED_MAX}", seed)


def spiral_arrays(points_per_class: int = 100, num_classes: int = 3, noise: float = 0.2, seed: int = 0):
    """The authors' spiral, bit for bit: numpy's legacy RNG seeded with `seed`, points ordered by class.

    Class j: r = linspace(0, 1, N); θ = linspace(2πj/C, 2πj/C + 4π, N) + noise·randn(N); x = (r cos θ, r sin θ).
    Uses its own RandomState (the same stream as `np.random.seed(seed)`), leaving numpy's global RNG alone.
    """
    require_int("points_per_class", points_per_class, at_least=1)
    require_int("num_classes", num_classes, at_least=2)
    require_finite("noise", noise, at_least=0.0)
    _require_seed("seed", seed)
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
    dtype = float_dtype(dtype)
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
    _require_seed("seed", seed)
    dtype = float_dtype(dtype)
    x, y, xt, yt = _mnist1d_arrays(seed)
    to = lambda a, b: Dataset(torch.tensor(a, dtype=dtype).unsqueeze(1), torch.tensor(b, dtype=torch.long), 10,
                              "mnist1d")
    return to(x, y), to(xt, yt)


def balanced_subset(data: Dataset, per_class: int, seed: int = 0) -> Dataset:
    """A class-balanced random subset with `per_class` samples of each class (as the late-decay authors' CIFAR-10
    subset), in a seeded random order."""
    require_int("per_class", per_class, at_least=1)
    _require_seed("seed", seed)
    rng = np.random.RandomState(seed)
    labels = data.y.cpu().numpy()
    picks = []
    for c in range(data.num_classes):
        idx = np.nonzero(labels == c)[0]
        require(len(idx) >= per_class, "per_class", f"at most {len(idx)} (class {c} has only {len(idx)} samples)",
                per_class)
        picks.append(rng.choice(idx, per_class, replace=False))
    order = rng.permutation(np.concatenate(picks))
    return data.subset(torch.as_tensor(order))


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each 1-D signal by a random integer in [−max_shift, max_shift] with zero padding — the 1-D analogue of
    CIFAR's random crop with padding."""
    require(x.dim() == 3, "x", "signals of shape (N, channels, length)", _describe(x))
    require_int("max_shift", max_shift)
    n, length = x.shape[0], x.shape[-1]
    padded = torch.nn.functional.pad(x, (max_shift, max_shift))
    offsets = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    index = (offsets[:, None] + torch.arange(length)[None, :]).to(x.device)
    return torch.gather(padded, -1, index.unsqueeze(1).expand(-1, x.shape[1], -1))


CIFAR10_ENV = "LANDSCAPE_CIFAR10"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class CifarBatchError(UserError, ValueError):
    """A file in LANDSCAPE_CIFAR10 is not a CIFAR-10 python batch (or holds more than one can)."""

    hint = (f"point {CIFAR10_ENV} at the 'python version' of CIFAR-10 (cifar-10-batches-py: data_batch_1 … "
            "data_batch_5, test_batch), unchanged")


# The only globals a CIFAR-10 batch pickles: numpy arrays and their dtypes (pickled by numpy 1.x or 2.x, protocols
# 2 to 5); bytes pickled by Python 3 under protocol 2 come through `_codecs.encode(text, "latin1")`.
_CIFAR_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype"),
                  ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}


def _latin1(text, encoding="latin1", errors="strict"):
    require(isinstance(text, str) and encoding in ("latin1", "latin-1") and errors == "strict", "_codecs.encode",
            "text encoded as latin1 (bytes in a protocol-2 pickle)", encoding)
    return text.encode("latin1")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,) int64. It is unpickled by an
    unpickler that builds only containers, bytes, text, numbers and numpy arrays (`_CIFAR_GLOBALS`): a file that
    asks for any other global (a function it would run) is a CifarBatchError naming the file, as is one whose
    contents are not a batch (the keys, the shape (N, 3072) uint8, one label in 0 … 9 per image)."""
    import pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) in _CIFAR_GLOBALS:  # numpy 1.x's module names, as numpy 2 names them
                return super().find_class(module.replace("numpy.core.", "numpy._core.") if np.__version__ >= "2"
                                          else module, name)
            if (module, name) == ("_codecs", "encode"):
                return _latin1
            raise CifarBatchError(f"{path}: not a CIFAR-10 batch: it asks to load {module}.{name}, which a batch "
                                  f"never holds (refused: unpickling it could run code)")

        def persistent_load(self, pid):
            raise CifarBatchError(f"{path}: not a CIFAR-10 batch (it holds persistent references)")

    try:
        with open(path, "rb") as f:
            batch = Unpickler(f, encoding="bytes").load()
    except CifarBatchError:
        raise
    except Exception as exc:  # truncated, not a pickle, a numpy array it cannot rebuild …
        raise CifarBatchError(f"{path}: not a CIFAR-10 batch: it cannot be read "
                              f"({type(exc).__name__}: {str(exc)[:80]})") from None
    if isinstance(batch, dict):
        batch = {k.encode() if isinstance(k, str) else k: v for k, v in batch.items()}
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        found = f"dtype {data.dtype} and shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CifarBatchError(f"{path}: not a CIFAR-10 batch: its b'data' must be a uint8 array of shape (N, 3072), "
                              f"not {found}")
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(type(v) is int and 0 <= v <= 9 for v in labels)):
        raise CifarBatchError(f"{path}: not a CIFAR-10 batch: its b'labels' must be a list of {len(data)} integers "
                              f"in 0 … 9, one per image")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def cifar10(path: str | os.PathLike | None = None, dtype=torch.float32) -> tuple[Dataset, Dataset]:
    """CIFAR-10 from a local copy of the standard python-pickle batches (`data_batch_1` … `data_batch_5`,
    `test_batch`), normalized per channel. The book never downloads it: pass `path` or set LANDSCAPE_CIFAR10."""
    dtype = float_dtype(dtype)
    folder = path or os.environ.get(CIFAR10_ENV)
    if not folder:
        raise FileNotFoundError(f"CIFAR-10 is not downloaded by this book: set {CIFAR10_ENV} to the folder holding "
                                "data_batch_1 … data_batch_5 and test_batch (the 'python version' of the data set)")
    folder = Path(folder)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks the CIFAR-10 batches {missing} (set {CIFAR10_ENV} to the folder "
                                "holding data_batch_1 … data_batch_5 and test_batch)")
    mean = torch.tensor(CIFAR10_MEAN, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, dtype=dtype).view(1, 3, 1, 1)

    def load(files):
        xs, ys = zip(*(_read_cifar_batch(folder / n) for n in files))
        x = torch.tensor(np.concatenate(xs), dtype=dtype) / 255.0
        return Dataset((x - mean) / std, torch.tensor(np.concatenate(ys)), 10, "cifar10")

    return load(names[:5]), load(names[5:])


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop of the original size from the zero-padded image, and a horizontal flip with probability ½ — the
    standard CIFAR augmentation."""
    require(x.dim() == 4, "x", "images of shape (N, channels, height, width)", _describe(x))
    require_int("pad", pad)
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (n, h)
    cols = dx[:, None] + torch.arange(w, device=x.device)[None, :]  # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    index = rows[:, None, :, None] * padded.shape[-1] + cols[:, None, None, :]  # (n, 1, h, w)
    flat = padded.flatten(2)
    return torch.gather(flat, 2, index.expand(-1, x.shape[1], -1, -1).flatten(2)).view_as(x)


def augment(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """The augmentation matching the data's shape: a random shift for 1-D signals, crop + flip for images."""
    require(x.dim() in (3, 4), "x", "signals (N, channels, length) or images (N, channels, height, width)",
            _describe(x))
    return random_shift(x, shift, generator) if x.ndim == 3 else random_crop_flip(x, shift, generator)


def split_data_seeds(seed: int, split_seed: int) -> tuple[int, int]:
    """(generator seed, partition seed) of data split `split_seed`, from numpy's SeedSequence of (seed,
    split_seed): each split draws its own points, so the points of one split are never training or validation
    points of another."""
    _require_seed("seed", seed)
    _require_seed("split_seed", split_seed)
    data_seed, partition_seed = np.random.SeedSequence((seed, split_seed)).generate_state(2)
    return int(data_seed), int(partition_seed)


def spiral_split(points_per_class: int = 200, validation_fraction: float = 0.5, noise: float = 0.2, seed: int = 0,
                 split_seed: int = 0, num_classes: int = 3, dtype=torch.float64) -> tuple[Dataset, Dataset]:
    """Data split `split_seed`: a fresh draw of the authors' spiral generator (its seed from `split_data_seeds(seed,
    split_seed)`, `points_per_class` + 1 points per class less the one at the origin, r = 0, which every draw
    shares and which carries every label), split at random within each class into a training and a held-out
    validation set (the follow-up paper's split is not known to us; this is ours). Two splits share no point: each
    has its own noise draw.

    The points of each set stay ordered by class, as in the authors' training set.
    """
    require_finite("validation_fraction", validation_fraction)
    require(0 < validation_fraction < 1, "validation_fraction", "in (0, 1)", validation_fraction)
    dtype = float_dtype(dtype)
    data_seed, partition_seed = split_data_seeds(seed, split_seed)
    x, y = spiral_arrays(points_per_class + 1, num_classes, noise, data_seed)
    off_origin = np.arange(len(y)) % (points_per_class + 1) != 0  # the points are ordered by class, r = 0 first
    x, y = x[off_origin], y[off_origin]
    rng = np.random.RandomState(partition_seed)
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


@dataclass(frozen=True)
class SpiralSplitConfig:
    """Data split `split_seed`: its own draw of the authors' spiral generator (noise 0.2, `points_per_class` points
    per class), split at random within each class into training and validation halves; two splits share no point
    (`data.spiral_split`). The follow-up's split is unknown; this one is ours."""

    points_per_class: int = 200
    validation_fraction: float = 0.5
    noise: float = 0.2
    seed: int = 0
    split_seed: int = 0

    def __post_init__(self):
        normalize_fields(self)
        require_int("points_per_class", self.points_per_class, at_least=2)
        require_finite("validation_fraction", self.validation_fraction)
        require(0 < self.validation_fraction < 1, "validation_fraction", "in (0, 1)", self.validation_fraction)
        require_finite("noise", self.noise, at_least=0.0)
        require_int("seed", self.seed)
        require_int("split_seed", self.split_seed)

    def make(self, dtype, device) -> tuple[Dataset, Dataset]:
        train, val = spiral_split(self.points_per_class, self.validation_fraction, self.noise, self.seed,
                                  self.split_seed, dtype=dtype)
        return train.to(device), val.to(device)
