import numpy as np
import pytest
import random
import torch

from landscape.pca_landscape import fit_pca_surface, grid_axes, nearest_grid_values
from landscape.data import balanced_subset, mnist1d, random_shift
from landscape.losses import half_mse
from landscape.topics.lrd_network.experiment import LateDecayNetConfig
from landscape.models import VGG1d, num_parameters
from landscape.validation import ConfigError


def test_pca_surface_recovers_a_trajectory_on_a_curved_surface():
    """Points built to lie exactly on center + x₁u₁ + x₂u₂ + (a x₁² + b x₁ + c)u₃ are recovered: the quadratic
    coefficients, and the surface point at each point's (x₁, x₂) equals the point."""
    torch.manual_seed(0)
    P = 200
    basis, _ = torch.linalg.qr(torch.randn(P, 3, dtype=torch.float64))
    u1, u2, u3 = basis.T
    center = torch.randn(P, dtype=torch.float64)
    x1 = torch.linspace(-6, 6, 60, dtype=torch.float64)
    # a path that wanders in x₂, made uncorrelated with x₁ and x₁² so that the principal axes are exactly u₁, u₂, u₃
    wander = 2.0 * torch.sin(x1)
    span, _ = torch.linalg.qr(torch.stack([torch.ones_like(x1), x1, x1 ** 2], 1))
    x2 = wander - span @ (span.T @ wander)
    x2 = 1.5 * x2 / x2.std()
    a = 0.05  # no linear term: c₃ then has no covariance with x₁, so the PCs are exactly u₁, u₂, u₃
    c3 = a * x1 ** 2
    c3 = c3 - c3.mean()  # the PCA center is the mean of the points
    x2 = x2 - x2.mean()
    x1 = x1 - x1.mean()
    points = center + x1[:, None] * u1 + x2[:, None] * u2 + c3[:, None] * u3
    surface = fit_pca_surface(points, components=3)
    coords = surface.coordinates(points).numpy()
    qa, qb, _ = surface.quadratic
    assert abs(qb) < 1e-9
    assert abs(qa) == pytest.approx(a, rel=1e-6)
    for i in (0, 17, 59):
        torch.testing.assert_close(surface.point(coords[i, 0], coords[i, 1]), points[i], rtol=1e-9, atol=1e-9)
    assert surface.explained_variance_ratio.sum() == pytest.approx(1.0)


def test_pca_surface_sign_does_not_depend_on_the_svd_backend(monkeypatch):
    """An SVD that returns some singular vectors with the opposite sign (as another backend may) gives the same
    surface: components, coordinates and quadratic."""
    pts = torch.randn(10, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reference = fit_pca_surface(pts)
    svd = torch.linalg.svd

    def flipped_svd(a, full_matrices=True):
        u, s, vh = svd(a, full_matrices=full_matrices)
        signs = torch.tensor([(-1.0) ** (i + 1) for i in range(len(s))], dtype=a.dtype)  # flip pc₁, pc₃, pc₅…
        return u * signs, s, vh * signs[:, None]

    monkeypatch.setattr(torch.linalg, "svd", flipped_svd)
    flipped = fit_pca_surface(pts)
    torch.testing.assert_close(flipped.components, reference.components)
    np.testing.assert_allclose(flipped.quadratic, reference.quadratic, rtol=1e-10, atol=1e-12)
    assert bool((reference.components.sum(1) > 0).all())  # the rule: each component's entries sum to > 0
    with pytest.raises(ValueError, match="points"):
        fit_pca_surface(torch.randn(2, 5))


def test_grid_helpers():
    coords = np.array([[0.0, 0.0], [10.0, 4.0]])
    x1, x2 = grid_axes(coords, (11, 5), 0.1)
    assert x1[0] == pytest.approx(-1.0) and x1[-1] == pytest.approx(11.0) and len(x2) == 5
    grid = np.arange(55.0).reshape(5, 11)
    assert nearest_grid_values(grid, x1, x2, np.array([[x1[3], x2[2]]]))[0] == grid[2, 3]


def test_mnist1d_leaves_global_rngs_alone_and_subset_is_balanced():
    np.random.seed(5)
    random.seed(5)
    expected = (np.random.rand(), random.random())
    np.random.seed(5)
    random.seed(5)
    train, test = mnist1d()
    assert (np.random.rand(), random.random()) == expected
    assert train.x.shape == (4000, 1, 40) and test.x.shape == (1000, 1, 40)
    sub = balanced_subset(train, 30, seed=1)
    assert np.bincount(sub.y.numpy()).tolist() == [30] * 10
    with pytest.raises(ValueError, match="per_class"):
        balanced_subset(train, 10_000)


def test_random_shift_moves_signals_with_zero_padding():
    x = torch.arange(1.0, 11.0).reshape(1, 1, 10).repeat(50, 1, 1)
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    for row in shifted[:, 0]:
        nz = row[row != 0]
        assert len(nz) >= 8 and torch.all(nz[1:] - nz[:-1] == 1)  # contiguous piece of the original
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_vgg1d_init_and_loss():
    m = VGG1d(seed=0)
    assert num_parameters(m) == 60714
    linears = [l for l in m.classifier if isinstance(l, torch.nn.Linear)]
    assert linears[0].weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert all(torch.all(l.bias == 0) for l in linears)
    z = torch.zeros(4, 10)
    assert half_mse(z, torch.tensor([0, 1, 2, 3])).item() == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs,field", [(dict(lr=0.0), "lr"), (dict(decay_epochs=(5,)), "decay_epochs"),
                                          (dict(decay_epochs=(100, 2000)), "decay_epochs"),
                                          (dict(subpath_epochs=7), "subpath_epochs"), (dict(dtype="half"), "dtype"),
                                          (dict(grid_shape=(1, 5)), "grid_shape")])
def test_bad_config(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        LateDecayNetConfig(**kwargs)


def test_cifar10_loader_reads_the_python_batches(fake_cifar10):
    from landscape.data import CIFAR10_MEAN, cifar10

    train, test = cifar10()
    assert train.x.shape == (100, 3, 32, 32) and test.x.shape == (20, 3, 32, 32)
    assert train.y.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    import pickle
    raw = pickle.load(open(fake_cifar10 / "data_batch_1", "rb"), encoding="bytes")[b"data"][0]
    expected = (raw[:1024].reshape(32, 32)[0, 0] / 255.0 - CIFAR10_MEAN[0]) / 0.2470
    assert train.x[0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-5)


def test_cifar10_without_data_says_how_to_provide_it(monkeypatch, tmp_path):
    from landscape.data import cifar10

    monkeypatch.delenv("LANDSCAPE_CIFAR10", raising=False)
    with pytest.raises(FileNotFoundError, match="LANDSCAPE_CIFAR10"):
        cifar10()
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        cifar10(tmp_path)


def test_vgg_small_has_the_authors_parameter_count():
    from landscape.models import VGGSmall

    model = VGGSmall()
    assert num_parameters(model) == 1_250_634
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_crop_flip_keeps_the_image_or_its_mirror_without_padding():
    from landscape.data import random_crop_flip

    x = torch.randn(16, 3, 8, 8)
    y = random_crop_flip(x, 0, torch.Generator().manual_seed(0))
    kinds = [torch.equal(y[i], x[i]) or torch.equal(y[i], x[i].flip(-1)) for i in range(16)]
    assert all(kinds)
    assert any(not torch.equal(y[i], x[i]) for i in range(16))  # some were flipped
