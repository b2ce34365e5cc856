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
                                          (dict(seeds=()), "seeds"), (dict(seeds=(1, 1)), "seeds"),
                                          (dict(seeds=(-1,)), "seeds"), (dict(main_epochs=643), "main_epochs"),
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


# ---- the multi-seed protocol, its readers and the decay claim on made-up results ----

from landscape.topics.lrd_network import analysis  # noqa: E402
from landscape.topics.lrd_network.claims import LATE_HALF_R, late_decay_evidence  # noqa: E402
from landscape.topics.lrd_network.claims import test_loss_falls as decay_claim  # noqa: E402  (not a test)
from landscape.topics.lrd_network.experiment import FULL, SMOKE, run_seed, split_late_decay  # noqa: E402

DECAYS = np.arange(260, 641, 20)  # the full preset's grid: later half 460–640
OFFSETS = np.arange(5, 121, 5)
MAIN = np.arange(5, 641, 5)


def fake_result(finals, *, main_train=None, moving_subpaths=(), noise=0.0, seed=0):
    """A made-up stored result: `finals` (seeds, decays) are the subpaths' final held-out test losses; each subpath
    reaches its final value after a quick drop and stays flat (converged), except (seed index, decay index) pairs in
    `moving_subpaths`, which fall steadily to their end. The main path's training loss settles at 0.006 by epoch 300
    unless `main_train` (seeds, records) is given."""
    finals = np.asarray(finals, dtype=np.float64)
    k, n = finals.shape
    rng = np.random.default_rng(seed)
    shape = np.where(OFFSETS <= 10, 1.2, 1.0)  # a quick drop, then flat
    test = finals[:, :, None] * shape + noise * rng.standard_normal((k, n, len(OFFSETS)))
    train = 0.1 * test
    for i, j in moving_subpaths:
        test[i, j] = finals[i, j] * (1 + 2 * (1 - OFFSETS / OFFSETS[-1]))
        train[i, j] = 0.1 * test[i, j]
    if main_train is None:
        main_train = np.broadcast_to(0.006 + np.clip(1 - MAIN / 300, 0, None) * 0.4, (k, len(MAIN))).copy()
    return {"seeds": np.arange(1, k + 1), "subset_seeds": np.arange(1, k + 1), "sub_decay_epochs": DECAYS,
            "sub_eval_offsets": OFFSETS, "sub_test_loss": test, "sub_train_loss": train, "sub_proxy_loss": test + 0.01,
            "main_eval_epochs": MAIN, "main_train_loss": main_train}


def falling(k=3, slope=2e-5, level=0.035):
    """Final losses that fall linearly with the decay epoch over the whole grid, the same in every seed up to a
    seed offset (and a small seed-specific wiggle)."""
    return np.array([level + 0.001 * i - slope * (DECAYS - 260) + 1e-5 * np.sin(DECAYS / 7 + i) for i in range(k)])


def test_the_full_preset_is_the_planned_protocol():
    """Three evaluation seeds disjoint from the calibration seed 0, each on its own subset; ≥ 15 decay epochs whose
    later half starts after the main-path window; the budget of epochs per seed."""
    assert FULL.seeds == (1, 2, 3) and 0 not in FULL.seeds and FULL.subset_per_seed
    assert [FULL.subset_of(s) for s in FULL.seeds] == [1, 2, 3]
    assert len(FULL.decay_epochs) >= 15 and FULL.decay_epochs[-1] <= FULL.main_epochs
    late = np.array(FULL.decay_epochs)[np.array(FULL.decay_epochs) >= np.median(FULL.decay_epochs)]
    assert late[0] == 460 and late[0] - analysis.MAIN_WINDOW_EPOCHS > 0  # the window before the later half: 360–460
    assert FULL.main_epochs + len(FULL.decay_epochs) * FULL.subpath_epochs <= 3100  # ≈ 0.09 s each on one thread


def test_one_unit_per_seed_each_with_its_landscape():
    plan = split_late_decay(FULL)
    assert [u[1] for u in plan.units] == [1, 2, 3] and [u[2] for u in plan.units] == [True, True, True]
    assert plan.labels == ("seed 1", "seed 2", "seed 3") and plan.costs[0] == plan.costs[1] == plan.costs[2]


def test_late_half_and_final_values():
    r = fake_result(falling())
    assert analysis.later_half(r).sum() == 10 and DECAYS[analysis.later_half(r)][0] == 460
    np.testing.assert_allclose(analysis.final_values(r), falling())  # readout of the flat end
    assert analysis.subpath_converged(r).all()


def test_pooled_correlation_is_the_fixed_effects_partial_correlation():
    """The within-seed-centered r equals the partial correlation of x and y given seed dummies, and its p-value is the
    OLS slope test of y ~ x + seed (N − k − 1 degrees of freedom)."""
    rng = np.random.default_rng(3)
    x = np.tile(np.arange(8.0), (3, 1))
    y = -0.3 * x + np.array([[0.0], [5.0], [-2.0]]) + rng.standard_normal((3, 8))
    r, p, df = analysis.pooled_correlation(x, y)
    X = np.column_stack([x.ravel(), np.repeat(np.eye(3), 8, axis=0)])
    beta, res, *_ = np.linalg.lstsq(X, y.ravel(), rcond=None)
    sigma2 = res[0] / (24 - 4)
    se = np.sqrt(sigma2 * np.linalg.inv(X.T @ X)[0, 0])
    from scipy import stats
    assert df == 20 and p == pytest.approx(2 * stats.t.sf(abs(beta[0] / se), 20), rel=1e-9)
    assert r < 0
    # a seed offset alone makes no correlation; pooling without centering would
    x, flat = np.array([[0, 1, 2, 3], [4, 5, 6, 7.0]]), np.array([[1.0, 1.1, 1.1, 1.0], [2.0, 2.1, 2.1, 2.0]])
    assert abs(analysis.pooled_correlation(x, flat)[0]) < 1e-12 and stats.pearsonr(x.ravel(), flat.ravel())[0] > 0.8


def test_the_decay_claim_is_reproduced_only_when_every_part_holds():
    status, ours, values, _ = decay_claim(fake_result(falling()))
    assert status == "reproduced", ours
    assert values["correlations"]["test"]["pooled_r_late_half"] < LATE_HALF_R
    assert "short of" not in ours and "every seed" in ours


def test_the_decay_claim_scores_the_later_half_not_the_overall_trend():
    """Falling over the early decays only, flat (noise) over the later half: the overall per-seed r is strongly
    negative, the claim is not reproduced."""
    early = np.where(DECAYS < 460, 0.05 - 5e-5 * (DECAYS - 260), 0.04)
    finals = np.array([early + 2e-4 * np.cos(DECAYS * (i + 1)) for i in range(3)])
    status, ours, values, _ = decay_claim(fake_result(finals))
    assert all(r < -0.5 for r in values["correlations"]["test"]["r"])
    assert status == "not reproduced" and "later half" in ours


def test_the_decay_claim_is_partly_with_too_few_seeds_or_a_positive_seed():
    status, ours, _, _ = decay_claim(fake_result(falling(k=2)))
    assert status == "partly" and "fewer than 3 seeds" in ours
    finals = falling(k=4)
    finals[3] = finals[3][::-1]  # one seed rises with the decay epoch
    status, ours, values, _ = decay_claim(fake_result(finals))
    assert values["correlations"]["test"]["pooled_r_late_half"] < 0
    assert status == "partly" and "not every seed" in ours


def test_the_decay_claim_needs_the_main_path_converged_before_the_later_half():
    """A main path whose training loss still falls through the window before the later half caps the claim at
    partly, and says which seed."""
    still_falling = 0.006 + 0.03 * np.clip(1 - MAIN / 640, 0, None)
    main = np.stack([np.broadcast_to(0.006, MAIN.shape), still_falling, np.broadcast_to(0.006, MAIN.shape)])
    r = fake_result(falling(), main_train=main)
    conv = analysis.main_convergence(r)
    assert [m["converged"] for m in conv] == [True, False, True] and conv[0]["window"] == (360, 460)
    status, ours, _, _ = decay_claim(r)
    assert status == "partly" and "not seed 2" in ours and "still moving" in ours


def test_main_path_convergence_tolerates_the_large_lr_fluctuation():
    """A flat path with record-to-record noise as large as the book's absolute tolerance counts as converged on the
    window means; a drop of 0.004 across the window does not."""
    rng = np.random.default_rng(0)
    noisy = np.abs(0.006 + 0.0015 * rng.standard_normal((3, len(MAIN))))
    assert all(m["converged"] for m in analysis.main_convergence(fake_result(falling(), main_train=noisy)))
    step = noisy + np.where(MAIN <= 410, 0.004, 0.0)
    assert not any(m["converged"] for m in analysis.main_convergence(fake_result(falling(), main_train=step)))


def test_subpaths_not_converged_are_reported_and_cap_the_claim():
    late = [(i, j) for i in range(3) for j in (10, 12)]  # 6 of the 30 later-half subpaths still fall
    r = fake_result(falling(), moving_subpaths=late + [(0, 0)])
    conv = analysis.subpath_converged(r)
    assert conv.sum() == 60 - 7 and not conv[0, 0]
    ev = late_decay_evidence(r)
    assert ev["subpaths_converged_late_half"] == pytest.approx(24 / 30) and (1, 260) in ev["not_converged"]
    status, ours, _, _ = decay_claim(r)
    assert status == "partly" and "80% of the later half" in ours
    assert "*" in analysis.decay_table(r).loc[0, "seed 1"]


def test_seed_and_decay_tables():
    r = fake_result(falling())
    table = analysis.seed_table(r)
    assert table["seed"].tolist() == [1, 2, 3] and (table["main converged"] == "yes").all()
    assert (table["r, later half"] < -0.9).all()
    decays = analysis.decay_table(r)
    assert len(decays) == len(DECAYS) and (decays["half"] == "later").sum() == 10


@pytest.mark.smoke
def test_a_seed_resumes_from_its_checkpoint_to_the_same_result(tmp_path, monkeypatch):
    """A unit interrupted after its second subpath resumes from the checkpoint and gives the same arrays as an
    uninterrupted run."""
    from landscape.runtime import Checkpoint
    from landscape.topics.lrd_network import experiment

    unit, device = (SMOKE, 2, True), torch.device("cpu")
    reference = run_seed(unit, device=device)
    calls = {"n": 0}
    train_path = experiment._train_path

    def interrupted(run, epochs, path, *args, **kwargs):
        if path == 3:  # the third subpath
            raise KeyboardInterrupt
        return train_path(run, epochs, path, *args, **kwargs)

    checkpoint = Checkpoint(tmp_path / "unit.pt", every_s=0.0)
    monkeypatch.setattr(experiment, "_train_path", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_seed(unit, device=device, checkpoint=checkpoint)
    monkeypatch.setattr(experiment, "_train_path", train_path)
    assert len(checkpoint.load()["subpaths"]) == 2
    resumed = run_seed(unit, device=device, checkpoint=checkpoint)
    assert resumed.keys() == reference.keys()
    for k in reference:
        np.testing.assert_array_equal(resumed[k], reference[k], err_msg=k)
