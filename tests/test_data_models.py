import numpy as np
import pytest
import torch

from landscape.data import spiral, spiral_arrays
from landscape.models import MLP, num_parameters
from landscape.validation import ConfigError


def test_spiral_is_the_authors_generator_bit_for_bit():
    # the authors' code, with numpy's global legacy RNG
    np.random.seed(0)
    N, K = 100, 3
    X, Y = np.zeros((N * K, 2)), np.zeros(N * K, dtype="uint8")
    for j in range(K):
        ix = range(N * j, N * (j + 1))
        r = np.linspace(0.0, 1, N)
        t = np.linspace(2 * np.pi * j / K, 2 * np.pi * j / K + 4 * np.pi, N) + np.random.randn(N) * 0.2
        X[ix] = np.c_[r * np.cos(t), r * np.sin(t)]
        Y[ix] = j
    x, y = spiral_arrays()
    assert np.array_equal(x, X) and np.array_equal(y, Y)


def test_spiral_first_points_and_order():
    data = spiral()
    assert data.x.shape == (300, 2) and data.x.dtype == torch.float64
    assert data.x[0].tolist() == [0.0, 0.0]
    rng = np.random.RandomState(0)
    theta1 = 4 * np.pi / 99 + 0.2 * rng.randn(100)[1]
    assert data.x[1].tolist() == pytest.approx([np.cos(theta1) / 99, np.sin(theta1) / 99], abs=1e-15)
    assert data.y.tolist() == [0] * 100 + [1] * 100 + [2] * 100


def test_spiral_leaves_global_rng_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    spiral_arrays()
    assert np.random.rand() == expected


def test_mlp_parameter_count_and_inits():
    assert num_parameters(MLP(2, 100, 3)) == 603
    assert num_parameters(MLP(2, 100, 3, init="nobias")) == 500
    wide = MLP(400, 400, 3, init="ntk2021", seed=1)
    assert wide[0].weight.std().item() == pytest.approx(1 / 20, rel=0.02)  # N(0, 1/fan_in)
    assert torch.all(wide[0].bias == 0)
    glorot = MLP(400, 400, 3, init="glorot", seed=1)
    assert glorot[0].weight.std().item() == pytest.approx((2 / 800) ** 0.5, rel=0.02)
    bound = 2 * (2 / 800) ** 0.5 / 0.87962566103423978  # truncated at 2 standard deviations, as JAX draws it
    assert glorot[0].weight.abs().max().item() <= bound and glorot[0].weight.abs().max().item() > 0.95 * bound
    assert 0 < glorot[0].bias.abs().max().item() < 0.1
    assert MLP(2, 10, 3, dtype="float32")[0].weight.dtype == torch.float32


def test_same_seed_same_net_and_different_seed_different_net():
    a, b, c = MLP(2, 10, 3, seed=4), MLP(2, 10, 3, seed=4), MLP(2, 10, 3, seed=5)
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, c[0].weight)


@pytest.mark.parametrize("kwargs,field", [(dict(init="he"), "init"), (dict(width=0), "width"),
                                          (dict(dtype="float16"), "dtype"), (dict(depth=0), "depth")])
def test_bad_model_inputs(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        MLP(2, kwargs.pop("width", 10), 3, **kwargs)


def test_spiral_split_is_a_stratified_partition_of_its_own_draw_of_the_authors_spiral():
    from landscape.data import spiral_arrays, spiral_split, split_data_seeds
    from landscape.validation import ConfigError

    train, val = spiral_split(points_per_class=200, validation_fraction=0.5, seed=0, split_seed=3)
    x, y = spiral_arrays(201, 3, 0.2, split_data_seeds(0, 3)[0])
    x = x[np.arange(len(x)) % 201 != 0]  # the origin (r = 0) is every draw's, with every label: left out
    assert len(train) == len(val) == 300
    assert torch.bincount(train.y).tolist() == torch.bincount(val.y).tolist() == [100, 100, 100]
    both = torch.cat([train.x, val.x]).numpy()
    assert sorted(map(tuple, both.round(12))) == sorted(map(tuple, x.round(12)))  # every point exactly once
    assert (torch.diff(train.y) >= 0).all()  # ordered by class, like the authors' set
    again, _ = spiral_split(points_per_class=200, validation_fraction=0.5, seed=0, split_seed=3)
    assert torch.equal(again.x, train.x)
    other, other_val = spiral_split(points_per_class=200, validation_fraction=0.5, seed=0, split_seed=4)
    assert not torch.equal(other.x, train.x)
    # splits are data-disjoint: no point of one split (training or validation) is a point of another
    points = torch.cat([train.x, val.x, other.x, other_val.x])
    assert len(torch.unique(points, dim=0)) == len(points)
    with pytest.raises(ConfigError, match="validation_fraction"):
        spiral_split(validation_fraction=1.0)


def test_float_labels_get_a_dtype_message_not_a_shape_message():
    from landscape.data import Dataset
    from landscape.validation import ConfigError

    with pytest.raises(ConfigError, match="integer class labels") as err:
        Dataset(torch.zeros(4, 2), torch.zeros(4), 2)
    assert ".long()" in str(err.value)
    with pytest.raises(ConfigError, match="shape"):
        Dataset(torch.zeros(4, 2), torch.zeros(4, 1, dtype=torch.long), 2)
