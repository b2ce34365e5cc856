"""The Myrtle-style CNN, its batched ensemble (grouped convolutions), and the image experiment on MNIST-1D and on a
fake CIFAR-10 written here in the standard python-pickle format."""

import pickle
import random

import numpy as np
import pytest
import torch

from landscape.ensemble import EnsembleMyrtle, train_ensemble
from landscape.training import EnsembleModel
from landscape.losses import GammaSchedule
from landscape.models import Myrtle, num_parameters
from landscape.validation import ConfigError


@pytest.mark.parametrize("dims,shape", [(1, (7, 1, 40)), (2, (5, 3, 32, 32))])
def test_myrtle_shapes_and_init(dims, shape):
    model = Myrtle(6, dims=dims, in_channels=shape[1], seed=3)
    assert model(torch.randn(shape)).shape == (shape[0], 10)
    k = 3 ** dims
    assert num_parameters(model) == (shape[1] * k * 6 + 6) + 3 * (6 * k * 6 + 6) + (6 * 10 + 10)
    w = Myrtle(64, dims=dims, in_channels=shape[1], seed=0).convs[1].weight
    assert w.std().item() == pytest.approx(np.sqrt(2 / (64 * k)), rel=0.05)  # He/Kaiming, as Myrtle
    assert all((c.bias == 0).all() for c in model.convs)


@pytest.mark.parametrize("dims,shape,width", [(1, (9, 1, 40), 3), (1, (9, 1, 40), EnsembleMyrtle.BMM_MAX_WIDTH + 1),
                                               (1, (5, 1, 41), 2), (2, (4, 3, 16, 16), 3)])
def test_ensemble_members_are_the_seeded_single_cnns(dims, shape, width):
    """Narrow 1-D members (batched matrix products), wider ones and 2-D ones (grouped convolutions), odd lengths."""
    x = torch.randn(shape)
    ens = EnsembleMyrtle.init(width, [4, 0, 7], dims=dims, in_channels=shape[1])
    z = ens(x)
    for e, seed in enumerate([4, 0, 7]):
        torch.testing.assert_close(z[e], Myrtle(width, dims=dims, in_channels=shape[1], seed=seed)(x), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("width", [2, EnsembleMyrtle.BMM_MAX_WIDTH + 1])
def test_ensemble_gradients_are_each_members_own(width):
    x, y = torch.randn(12, 1, 40, dtype=torch.float64), torch.randint(0, 10, (12,))
    gamma = torch.as_tensor(GammaSchedule(10, 5.0, 4).gammas([1, 2]))
    ens = EnsembleMyrtle.init(width, [0, 1], dtype="float64")
    _, _, _, grads = ens.loss_and_grad(x, y, gamma, "dce")
    for e in range(2):
        m = Myrtle(width, seed=e, dtype="float64")
        loss = (gamma[e][y] * torch.nn.functional.cross_entropy(m(x), y, reduction="none")).mean()
        ref = torch.autograd.grad(loss, [p for c in m.convs for p in (c.weight, c.bias)] + [m.head.weight,
                                                                                           m.head.bias])
        for g, r in zip(grads, ref):
            torch.testing.assert_close(g[e], r, rtol=1e-10, atol=1e-12)


def test_full_batch_in_several_passes_equals_one_pass():
    x, y = torch.randn(23, 1, 40, dtype=torch.float64), torch.randint(0, 10, (23,))
    gamma = torch.ones(3, 10, dtype=torch.float64)
    one = EnsembleMyrtle.init(3, [0, 1, 2], dtype="float64")
    chunked = EnsembleMyrtle.init(3, [0, 1, 2], dtype="float64", samples_per_pass=5)
    a, b = one.loss_and_grad(x, y, gamma, "dmse2"), chunked.loss_and_grad(x, y, gamma, "dmse2")
    for u, v in zip(a[:3], b[:3]):
        torch.testing.assert_close(u, v, rtol=1e-12, atol=1e-14)
    for u, v in zip(a[3], b[3]):
        torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-13)


def test_cnn_ensemble_trains_like_single_models():
    from landscape.data import Dataset

    g = torch.Generator().manual_seed(0)
    data = Dataset(torch.randn(30, 1, 40, generator=g, dtype=torch.float64), torch.arange(30) % 10, 10)
    log = train_ensemble(EnsembleMyrtle.init(3, [0, 1], dtype="float64"), data, lr=0.3, steps=20)
    m = Myrtle(3, seed=1, dtype="float64")
    params = list(m.parameters())
    for t in range(21):
        loss = torch.nn.functional.cross_entropy(m(data.x), data.y)
        assert log.objective[t, 1] == pytest.approx(loss.item(), rel=1e-10)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, d in zip(params, grads):
                p -= 0.3 * d


def test_mnist1d_keeps_the_global_rngs():
    from landscape.data import _mnist1d_arrays, mnist1d

    _mnist1d_arrays.cache_clear()
    np.random.seed(123)
    random.seed(456)
    state_np, state_py = np.random.get_state()[1].copy(), random.getstate()
    train, test = mnist1d()
    assert train.x.shape == (4000, 1, 40) and test.x.shape == (1000, 1, 40)
    assert (np.random.get_state()[1] == state_np).all() and random.getstate() == state_py


def write_fake_cifar10(folder, per_batch=20):
    """Six files in the standard 'python version' layout: dicts with b'data' (N × 3072 uint8) and b'labels'."""
    rng = np.random.RandomState(0)
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8),
                         b"labels": [i % 10 for i in range(per_batch)], b"batch_label": name.encode()}, f)
    return folder


def test_image_experiment_runs_end_to_end_on_a_fake_cifar10(tmp_path, monkeypatch):
    from dataclasses import replace

    from landscape.topics.image.experiment import CIFAR10_PAPER, run_image

    monkeypatch.setenv("LANDSCAPE_CIFAR10", str(write_fake_cifar10(tmp_path / "cifar-10-batches-py")))
    config = replace(CIFAR10_PAPER, train_per_class=3, validation_per_class=1, widths=(2,), seeds=2, steps=4,
                     record_every=2, samples_per_pass=7, settings=(("dce", 1.0, 2, 0.1), ("dce", 10.0, 2, 0.1)))
    arrays, summary = run_image(config, device="cpu", progress=False)
    assert arrays["train_accuracy"].shape == (1, 3, 4) and np.isfinite(arrays["train_loss"]).all()
    assert arrays["validation_accuracy"].shape == (1, 3, 4)
    assert CIFAR10_PAPER.dims == 2 and CIFAR10_PAPER.in_channels == 3


def test_image_experiment_without_cifar10_says_how_to_get_it(monkeypatch):
    from landscape.topics.image.experiment import CIFAR10_PAPER

    monkeypatch.delenv("LANDSCAPE_CIFAR10", raising=False)
    with pytest.raises(FileNotFoundError, match="LANDSCAPE_CIFAR10"):
        CIFAR10_PAPER.make_data("cpu")


@pytest.mark.parametrize("kwargs,field", [(dict(dataset="cifar100"), "dataset"), (dict(widths=(0,)), "widths"),
                                          (dict(train_per_class=0), "train_per_class"),
                                          (dict(settings=(("dce", 1.0, 0, 0.1),)), "period"),
                                          (dict(samples_per_pass=-1), "samples_per_pass"), (dict(steps=10, record_every=3), "record_every")])
def test_image_config_names_the_bad_field(kwargs, field):
    from landscape.topics.image.experiment import ImageConfig

    with pytest.raises(ConfigError, match=field):
        ImageConfig(**kwargs)
