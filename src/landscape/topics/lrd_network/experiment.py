"""Late learning-rate decay on a network (Ren, Ma & Ying 2024, the VGG/CIFAR-10 experiment), on MNIST-1D.

For each seed (one unit of work: its own initial weights, batch order, augmentation, dropout and, by default, its
own class-balanced training subset) a main path trains at a large learning rate; subpaths branch off at many epochs
with the learning rate decayed and train on. For the first seed, every checkpoint's parameters go into one PCA and
train and test losses are evaluated on the authors' curved surface through the first three components. The authors'
"test" loss was evaluated on the full training split with augmentation on; we report that proxy and a true held-out
test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from tqdm import tqdm

from ...pca_landscape import LANDSCAPE_ARRAYS, fit_pca_surface, grid_axes
from ...data import augment, balanced_subset, cifar10, mnist1d
from ...executor import run_units
from ...losses import half_mse
from ...models import VGG1d, VGGSmall, torch_dtype
from ...runtime import cpu_threads
from ...validation import normalize_fields, require, require_finite, require_int
from ...registry import Comparison, Experiment, Units, register


@dataclass(frozen=True)
class LateDecayNetConfig:
    dataset: ClassVar[str] = "mnist1d"
    per_class: int = 100  # class-balanced training subset (authors: 500 per class of CIFAR-10)
    data_seed: int = 42
    seeds: tuple[int, ...] = (1, 2, 3)  # one unit each: init, batch order, augmentation, dropout (and the subset)
    subset_per_seed: bool = True  # each seed trains on its own class-balanced subset, drawn with the seed
    subset_seed: int = 0  # the one subset of every seed when subset_per_seed is False
    lr: float = 0.1
    decay_factor: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 125
    max_shift: int = 4  # augmentation: random shift with zero padding (CIFAR: random crop, pad 4)
    main_epochs: int = 640
    decay_epochs: tuple[int, ...] = tuple(range(260, 641, 20))
    subpath_epochs: int = 120
    eval_every: int = 5
    snapshot_every: int = 10
    grid_shape: tuple[int, int] = (42, 31)  # (x₁ points, x₂ points), as the authors'
    grid_margin: float = 0.25
    pca_components: int = 5
    dtype: str = "float32"

    def __post_init__(self):
        normalize_fields(self)
        require_int("per_class", self.per_class, at_least=1)
        require(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds)
                and all(isinstance(s, int) and s >= 0 for s in self.seeds), "seeds",
                "one or more distinct integers >= 0", self.seeds)
        require_int("subset_seed", self.subset_seed)
        for name in ("lr", "decay_factor", "weight_decay", "momentum", "grid_margin"):
            require_finite(name, getattr(self, name), at_least=0.0)
        require(self.lr > 0, "lr", "> 0", self.lr)
        for name in ("batch_size", "main_epochs", "subpath_epochs", "eval_every", "snapshot_every"):
            require_int(name, getattr(self, name), at_least=1)
        require_int("max_shift", self.max_shift)
        require(len(self.decay_epochs) >= 2 and all(0 < e <= self.main_epochs for e in self.decay_epochs)
                and list(self.decay_epochs) == sorted(set(self.decay_epochs)), "decay_epochs",
                f"≥ 2 increasing epochs in (0, main_epochs = {self.main_epochs}]", self.decay_epochs)
        require(all(e % self.eval_every == 0 for e in self.decay_epochs), "decay_epochs",
                f"multiples of eval_every = {self.eval_every}", self.decay_epochs)
        require(self.main_epochs % self.eval_every == 0 and self.main_epochs % self.snapshot_every == 0,
                "main_epochs", "a multiple of eval_every and snapshot_every", self.main_epochs)
        require(self.subpath_epochs % self.eval_every == 0 and self.subpath_epochs % self.snapshot_every == 0,
                "subpath_epochs", "a multiple of eval_every and snapshot_every", self.subpath_epochs)
        require(len(self.grid_shape) == 2 and min(self.grid_shape) >= 2, "grid_shape", "two sizes ≥ 2",
                self.grid_shape)
        require_int("pca_components", self.pca_components, at_least=3)
        torch_dtype(self.dtype)

    def subset_of(self, seed: int) -> int:
        """The seed of the class-balanced training subset that `seed` trains on."""
        return seed if self.subset_per_seed else self.subset_seed


@dataclass(frozen=True)
class LateDecayCifarConfig(LateDecayNetConfig):
    """The same protocol on CIFAR-10 from a local copy (LANDSCAPE_CIFAR10) with the authors' 2-D vgg-small."""

    dataset: ClassVar[str] = "cifar10"


EVAL_CHUNK = 4096  # samples per forward pass when evaluating (a 50,000-image proxy does not fit at once)


def _mean_loss(model, data) -> tuple[float, float]:
    """(MSE, accuracy) over a data set, a batch at a time."""
    loss = correct = 0.0
    for i in range(0, len(data), EVAL_CHUNK):
        z = model(data.x[i:i + EVAL_CHUNK])
        y = data.y[i:i + EVAL_CHUNK]
        loss += half_mse(z, y).item() * len(y)
        correct += (z.argmax(1) == y).sum().item()
    return loss / len(data), correct / len(data)


class _Run:
    """Data, model and the evaluation sets of one seed of a configuration."""

    def __init__(self, config: LateDecayNetConfig, seed: int, device):
        dtype = torch_dtype(config.dtype)
        if config.dataset == "cifar10":
            full_train, test = cifar10(dtype=dtype)
            model = VGGSmall(seed=seed)
        else:
            full_train, test = mnist1d(config.data_seed, dtype=dtype)
            model = VGG1d(seed=seed)
        self.config, self.seed, self.device = config, seed, device
        self.train = balanced_subset(full_train, config.per_class, config.subset_of(seed)).to(device)
        self.test = test.to(device)
        self.proxy = full_train.to(device)  # the authors' "test": full training split, augmentation on
        self.model = model.to(device=device, dtype=dtype)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self) -> None:
        data, c = self.train, self.config
        self.model.train()
        order = torch.randperm(len(data), generator=self.generator).to(self.device)
        for i in range(0, len(data), c.batch_size):
            idx = order[i:i + c.batch_size]
            loss = half_mse(self.model(augment(data.x[idx], c.max_shift, self.generator)), data.y[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    @torch.no_grad()
    def evaluate(self, proxy_generator: torch.Generator) -> dict:
        self.model.eval()
        out = {}
        for name, data in (("train", self.train), ("test", self.test)):
            out[f"{name}_loss"], out[f"{name}_acc"] = _mean_loss(self.model, data)
        proxy = type(self.proxy)(augment(self.proxy.x, self.config.max_shift, proxy_generator), self.proxy.y, 10)
        out["proxy_loss"] = _mean_loss(self.model, proxy)[0]
        out["param_norm"] = parameters_to_vector(self.model.parameters()).norm().item()
        return out

    def vector(self) -> torch.Tensor:
        """The parameters as one vector, in their own dtype (exact; the PCA converts to float64)."""
        return parameters_to_vector(self.model.parameters()).detach().cpu().clone()

    @torch.no_grad()
    def losses_at(self, vector: torch.Tensor) -> tuple[float, float]:
        vector_to_parameters(vector.to(self.device, torch_dtype(self.config.dtype)), self.model.parameters())
        self.model.eval()
        return _mean_loss(self.model, self.train)[0], _mean_loss(self.model, self.test)[0]

    def state(self) -> dict:
        return {"model": {k: v.clone() for k, v in self.model.state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state()}

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])


METRICS = ("train_loss", "test_loss", "proxy_loss", "train_acc", "test_acc", "param_norm")


def _proxy_generator(seed: int, path: int, epoch: int) -> torch.Generator:
    """Augmentation draws for the proxy loss, fixed per (seed, path, epoch) so they do not perturb training's RNG."""
    return torch.Generator().manual_seed(10_000_019 * (seed + 1) + 1_009 * path + epoch)


def _train_path(run: _Run, epochs: int, path: int, first_epoch: int, progress_bar, log: dict, snapshots,
                branch_at=(), branches=None):
    """Train `epochs` epochs, logging METRICS every eval_every epochs, keeping the parameters every snapshot_every
    epochs (when `snapshots` is a list) and the full training state at the epochs `branch_at`."""
    c = run.config
    for epoch in range(first_epoch, first_epoch + epochs):
        run.epoch()
        done = epoch + 1
        if done % c.eval_every == 0:
            for k, v in run.evaluate(_proxy_generator(run.seed, path, done)).items():
                log.setdefault(k, []).append(v)
        if snapshots is not None and done % c.snapshot_every == 0:
            snapshots.append(run.vector())
        if done in branch_at:
            branches[done] = run.state()
        progress_bar.update(1)


def run_seed(unit, *, device, progress=False, checkpoint=None, main_only_epochs=None):
    """One unit: (config, seed, landscape) — the main path and every subpath of one seed, on one CPU thread; with
    `landscape`, also the PCA of all its checkpoints and the loss on the curved surface. Resumable: the state is
    kept after the main path and after each subpath. With `main_only_epochs`, only the first epochs of the main
    path (the drift check), as its log."""
    c, seed, landscape = unit
    with cpu_threads(1, device), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        run = _Run(c, seed, device)
        main_epochs = c.main_epochs if main_only_epochs is None else main_only_epochs
        total = main_epochs + (0 if main_only_epochs else len(c.decay_epochs) * c.subpath_epochs)
        state = (checkpoint.load() if checkpoint and main_only_epochs is None else None) or {}
        bar = tqdm(total=total, desc=f"late decay, seed {seed} (epochs)", disable=not progress, mininterval=1.0)
        if "main" not in state:
            log, snaps, branches = {}, [] if landscape else None, {}
            _train_path(run, main_epochs, 0, 0, bar, log, snaps, set(c.decay_epochs), branches)
            state = {"main": {"log": log, "snapshots": torch.stack(snaps) if snaps else torch.zeros(0),
                              "branches": branches}, "subpaths": []}
            if main_only_epochs is not None:
                return {f"main_{k}": np.array(log[k]) for k in METRICS}
            if checkpoint is not None:
                checkpoint.save(state)
        else:
            bar.update(c.main_epochs)
        bar.update(len(state["subpaths"]) * c.subpath_epochs)
        for i, decay in enumerate(c.decay_epochs[len(state["subpaths"]):], start=len(state["subpaths"])):
            run.restore(state["main"]["branches"][decay])
            for group in run.optimizer.param_groups:
                group["lr"] = c.lr * c.decay_factor
            run.generator.manual_seed(seed * 1_000_003 + decay)
            torch.manual_seed(seed * 1_000_003 + decay)
            log, snaps = {}, [] if landscape else None
            _train_path(run, c.subpath_epochs, i + 1, decay, bar, log, snaps)
            state["subpaths"].append({"log": log, "snapshots": torch.stack(snaps) if snaps else torch.zeros(0)})
            if checkpoint is not None:
                checkpoint.save(state)
        bar.close()
        arrays = {f"main_{k}": np.array(state["main"]["log"][k]) for k in METRICS}
        for k in METRICS:
            arrays[f"sub_{k}"] = np.array([s["log"][k] for s in state["subpaths"]])
        if landscape:
            arrays.update(_landscape(run, state, progress))
        return arrays


def _landscape(run: _Run, state: dict, progress: bool) -> dict:
    c = run.config
    main, subs = state["main"], state["subpaths"]
    points = torch.cat([main["snapshots"]] + [s["snapshots"] for s in subs]).double()
    surface = fit_pca_surface(points, c.pca_components)
    x1_axis, x2_axis = grid_axes(surface.coordinates(points).numpy(), c.grid_shape, c.grid_margin)
    grid_train = np.zeros((len(x2_axis), len(x1_axis)))
    grid_test = np.zeros_like(grid_train)
    for i2, x2 in enumerate(tqdm(x2_axis, desc="loss surface (rows)", disable=not progress)):
        for i1, x1 in enumerate(x1_axis):
            grid_train[i2, i1], grid_test[i2, i1] = run.losses_at(surface.point(float(x1), float(x2)))
    return {"main_coords": surface.coordinates(main["snapshots"].double()).numpy(),
            "sub_coords": np.stack([surface.coordinates(s["snapshots"].double()).numpy() for s in subs]),
            "explained_variance_ratio": surface.explained_variance_ratio, "quadratic": surface.quadratic,
            "grid_x1": x1_axis, "grid_x2": x2_axis, "grid_train_loss": grid_train, "grid_test_loss": grid_test}


def assemble_seeds(config: LateDecayNetConfig, outputs: list[dict]):
    """The stored arrays from the seeds' outputs (in the order of `config.seeds`): every curve gains a leading seed
    axis, and so do the PCA landscapes (one per seed, `landscape_seeds`)."""
    c = config
    arrays = {"seeds": np.array(c.seeds), "subset_seeds": np.array([c.subset_of(s) for s in c.seeds])}
    for k in METRICS:
        arrays[f"main_{k}"] = np.stack([o[f"main_{k}"] for o in outputs])
        arrays[f"sub_{k}"] = np.stack([o[f"sub_{k}"] for o in outputs])
    arrays["main_eval_epochs"] = np.arange(1, c.main_epochs // c.eval_every + 1) * c.eval_every
    arrays["main_snapshot_epochs"] = np.arange(1, c.main_epochs // c.snapshot_every + 1) * c.snapshot_every
    arrays["sub_decay_epochs"] = np.array(c.decay_epochs)
    arrays["sub_eval_offsets"] = np.arange(1, c.subpath_epochs // c.eval_every + 1) * c.eval_every
    arrays["landscape_seeds"] = np.array(c.seeds)
    arrays.update({k: np.stack([np.asarray(o[k]) for o in outputs]) for k in LANDSCAPE_ARRAYS})
    final_test = arrays["sub_test_loss"][:, :, -1]
    summary = {"landscape_seeds": [int(s) for s in c.seeds],
               "main_final_train_loss": [float(v) for v in arrays["main_train_loss"][:, -1]],
               "main_final_test_loss": [float(v) for v in arrays["main_test_loss"][:, -1]],
               "best_decay_epoch": [int(c.decay_epochs[i]) for i in np.argmin(final_test, axis=1)],
               "parameters": int(sum(p.numel() for p in (VGGSmall() if c.dataset == "cifar10" else VGG1d())
                                     .parameters()))}
    return arrays, summary


def split_late_decay(config: LateDecayNetConfig) -> Units:
    """One unit per seed, each with its own PCA landscape (so the path claim is read on every seed)."""
    epochs = config.main_epochs + len(config.decay_epochs) * config.subpath_epochs
    grid = config.grid_shape[0] * config.grid_shape[1] / 4  # a grid point costs about a quarter of an epoch
    return Units(tuple((config, seed, True) for seed in config.seeds), run_seed,
                 partial(assemble_seeds, config), tuple(f"seed {seed}" for seed in config.seeds),
                 costs=tuple(epochs + grid for _ in config.seeds))


def run_late_decay(config: LateDecayNetConfig, *, device, progress=True, checkpoint=None):
    return run_units(split_late_decay(config), device=device, progress=progress, checkpoint=checkpoint)


DRIFT_CHECK_EPOCHS = 10


def drift_check_late_decay(config: LateDecayNetConfig, result, *, device):
    """The first epochs of every seed's main path, recomputed."""
    epochs = min(DRIFT_CHECK_EPOCHS, config.main_epochs)
    n = epochs // config.eval_every
    out = []
    for i, seed in enumerate(config.seeds):
        main = run_seed((config, seed, False), device=device, main_only_epochs=epochs)
        out += [Comparison(f"seed {seed}: main_{k}", result[f"main_{k}"][i, :n], main[f"main_{k}"], rtol=1e-4,
                           atol=1e-6) for k in ("train_loss", "test_loss", "proxy_loss", "param_norm")]
    return out


FULL = LateDecayNetConfig()
LATE_DECAY_AXES = {"seeds": ("seed",), "subset_seeds": ("seed",), "landscape_seeds": ("seed",),
                   "main_coords": ("seed", "snapshot", "component"), "main_snapshot_epochs": ("snapshot",),
                   "main_eval_epochs": ("eval",), "main_*": ("seed", "eval"),
                   "sub_decay_epochs": ("decay",), "sub_eval_offsets": ("eval",),
                   "sub_coords": ("seed", "decay", "snapshot", "component"), "sub_*": ("seed", "decay", "eval"),
                   "explained_variance_ratio": ("seed", "component"), "quadratic": ("seed", "coefficient"),
                   "grid_x1": ("seed", "x1"), "grid_x2": ("seed", "x2"), "grid_*": ("seed", "x2", "x1")}
SMOKE = LateDecayNetConfig(per_class=10, seeds=(1, 2), main_epochs=20, decay_epochs=(4, 8, 12, 16, 20),
                           subpath_epochs=8, eval_every=4, snapshot_every=4, grid_shape=(6, 5), batch_size=25)

register(Experiment(
    name="lrd_network", version=3, title="Late LR decay on a VGG-style 1-D CNN (MNIST-1D): main path, subpaths, "
                                         "PCA landscape, three seeds",
    chapter="lrd_network", config_type=LateDecayNetConfig, presets={"full": FULL, "smoke": SMOKE},
    run=run_late_decay, drift_check=drift_check_late_decay, axes=LATE_DECAY_AXES, split=split_late_decay,
    description="Seeds 1, 2, 3 (each its own init, batch order and 1,000-signal training subset, 100 per class); MSE "
                "on one-hot, SGD momentum 0.9, wd 1e-4, lr 0.1, batch 125; main path 640 epochs; 20 subpaths "
                "decayed ×0.1 at epochs 260, 280, …, 640, 120 epochs each; a PCA landscape per seed."))


# The authors' protocol (paper notes): 500 images per class, main path 1,000 epochs, subpaths every 10 epochs from
# 200 on, 1,000 epochs each at LR × 0.1; three seeds as the book's claim needs. Hours per seed on a GPU; not stored
# with the book.
CIFAR_PAPER = LateDecayCifarConfig(per_class=500, main_epochs=1000, decay_epochs=tuple(range(200, 1001, 10)),
                                   subpath_epochs=1000, eval_every=10, snapshot_every=10)
CIFAR_SMOKE = LateDecayCifarConfig(per_class=2, seeds=(1,), main_epochs=4, decay_epochs=(2, 3), subpath_epochs=2,
                                   eval_every=1, snapshot_every=1, grid_shape=(3, 3), batch_size=10)

register(Experiment(
    name="lrd_network_cifar10", version=3,
    title="Late LR decay on the authors' vgg-small, CIFAR-10 from a local copy",
    chapter="lrd_network", config_type=LateDecayCifarConfig, presets={"paper": CIFAR_PAPER, "smoke": CIFAR_SMOKE},
    run=run_late_decay, drift_check=drift_check_late_decay, axes=LATE_DECAY_AXES, split=split_late_decay,
    description="Needs LANDSCAPE_CIFAR10 (python-pickle batches) and, at the paper preset, a GPU and hours per "
                "seed."))
