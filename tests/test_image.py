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
                     final_plain_steps=1, record_every=2, samples_per_pass=7, split_seeds=(1,),
                     settings=(("dce", 1.0, 2, 0.1), ("dce", 10.0, 2, 0.1)))
    arrays, summary = run_image(config, device="cpu", progress=False)
    # 2 settings × (2 selection + 2 evaluation runs)
    assert arrays["train_accuracy"].shape == (1, 3, 8) and np.isfinite(arrays["train_loss"]).all()
    assert arrays["validation_accuracy"].shape == (1, 3, 8)
    assert arrays["member_role"].tolist() == ["selection"] * 2 + ["evaluation"] * 2 + ["selection"] * 2 + [
        "evaluation"] * 2 and set(summary) >= {"c2 CE η=0.1 train_accuracy"}
    assert CIFAR10_PAPER.dims == 2 and CIFAR10_PAPER.in_channels == 3


def test_image_experiment_without_cifar10_says_how_to_get_it(monkeypatch):
    from landscape.topics.image.experiment import CIFAR10_PAPER

    monkeypatch.delenv("LANDSCAPE_CIFAR10", raising=False)
    with pytest.raises(FileNotFoundError, match="LANDSCAPE_CIFAR10"):
        CIFAR10_PAPER.make_data(0, "cpu")


@pytest.mark.parametrize("kwargs,field", [(dict(dataset="cifar100"), "dataset"), (dict(widths=(0,)), "widths"),
                                          (dict(train_per_class=0), "train_per_class"),
                                          (dict(settings=(("dce", 1.0, 0, 0.1),)), "period"),
                                          (dict(samples_per_pass=-1), "samples_per_pass"),
                                          (dict(steps=10, final_plain_steps=0, record_every=3), "record_every"),
                                          (dict(steps=700), "final_plain_steps"),
                                          (dict(split_seeds=(0, 1)), "selection_split_seeds"),
                                          (dict(split_seeds=(), selection_split_seeds=()), "split_seeds")])
def test_image_config_names_the_bad_field(kwargs, field):
    from landscape.topics.image.experiment import ImageConfig

    with pytest.raises(ConfigError, match=field):
        ImageConfig(**kwargs)


# ------------------------------------------------------------------------------ readers and the claim, made up
def made_up_image(train_gain=(0.1, 0.0), val_gain=(0.0, 0.03), ce_train=(0.5, 1.0), selection_gain=None,
                  moving=(), split_seeds=(1, 2, 3), seeds=3, selection=True):
    """A stored `image` result: widths 2 and 8, settings CE and DCE (A = 10), `seeds` runs on selection split 0 and on
    each evaluation split; final accuracies constant over 11 records (steps 0 … 1,000). The dynamical loss adds
    train_gain[i] / val_gain[i] at width i (± 0.01 from run to run, so intervals have a width); on the selection
    runs it adds selection_gain[i] instead when given. `moving`: width indices whose CE runs are still learning (their
    accuracies still rise by 0.06 over the last tenth)."""
    from landscape.ensemble_runs import plan_runs, run_arrays

    runs = plan_runs(seeds, split_seeds, (0,) if selection else ())
    steps = np.arange(0, 1001, 100)
    members = [(k, r) for k in range(2) for r in range(len(runs))]
    shape = (2, len(steps), len(members))
    train, val, loss = np.zeros(shape), np.zeros(shape), np.ones(shape)
    for m, (k, r) in enumerate(members):
        jitter = 0.01 * ((r % 3) - 1)
        for i in range(2):
            gains = selection_gain if selection_gain is not None and runs[r][2] == "selection" else None
            tg = (gains or train_gain)[i]
            vg = (gains or val_gain)[i]
            train[i, :, m] = min(ce_train[i] + k * (tg + jitter), 1.0)
            val[i, :, m] = 0.6 + 0.1 * i + k * (vg + jitter)
            if i in moving and k == 0:
                ramp = 0.6 * (1 - steps / steps[-1])
                train[i, :, m] -= ramp
                val[i, :, m] -= ramp
    from landscape.topics.image.analysis import RunView
    from landscape.topics.image.experiment import ImageConfig

    view = RunView({"widths": np.array([2, 8]), "steps": steps, "train_accuracy": train, "validation_accuracy": val,
                    "train_loss": loss, "validation_loss": loss.copy(), "diverged_at": np.full((2, len(members)), -1),
                    "member_setting": np.array([k for k, _ in members]), **run_arrays([runs[r] for _, r in members]),
                    "split_seeds": np.array(split_seeds),
                    "selection_split_seeds": np.array((0,) if selection else (), dtype=np.int64),
                    "setting_loss": np.array(["dce", "dce"]), "setting_amplitude": np.array([1.0, 10.0]),
                    "setting_period": np.array([44, 44]), "setting_lr": np.array([0.3, 0.3])})
    view.typed_config = ImageConfig()  # 10 classes, 500 training and 800 validation signals
    return view


def test_runs_of_keeps_the_members_of_one_role():
    from landscape.topics.image.analysis import runs_of

    result = made_up_image()
    ev = runs_of(result, "evaluation")
    assert ev["train_accuracy"].shape == (2, 11, 18) and ev["diverged_at"].shape == (2, 18)
    assert set(ev["member_role"]) == {"evaluation"} and set(ev["member_split"]) == {1, 2, 3}
    assert runs_of(result, "selection")["member_seed"].tolist() == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="role"):
        runs_of(result, "test")


def test_convergence_table_and_numbers_read_the_evaluation_runs():
    from landscape.topics.image.analysis import convergence_table, evaluation_numbers

    result = made_up_image(moving=(0,))
    table = convergence_table(result)
    assert table["settled"].tolist() == [0, 9, 9, 9] and table["still learning"].tolist() == [9, 0, 0, 0]
    assert set(table["runs"]) == {9} and table["diverged"].sum() == 0
    assert table["setting"].tolist()[:2] == ["CE η=0.3", "DCE A=10 T=44 η=0.3"]
    n = evaluation_numbers(result)
    assert n["runs"] == 9 and n["splits"] == 3 and n["selection_runs"] == 3 and n["not_converged"] == 9
    assert np.isclose(n["gain_train_c2"], 0.1) and np.isclose(n["gain_val_c8"], 0.03) and n["ce_conv_c2"] == 0
    assert n["regime_c2"] == "under" and n["regime_c8"] == "over" and n["ce_over_from"] == 8
    assert not n["cells_converged"]


def test_the_claim_is_reproduced_on_made_up_runs_that_show_both_effects():
    from landscape.topics.image.claims import image_mnist1d

    status, ours, values, reason = image_mnist1d(made_up_image())
    assert status == "reproduced", ours
    assert "Δtrain" in reason and len(reason) <= 160
    assert values["training_pick"]["width"] == 2 and values["training_pick"]["train_gain"][1] > 0
    assert values["generalization_pick"]["ce_overparameterized"]


@pytest.mark.parametrize("kwargs,status,words", [
    (dict(train_gain=(0.0, 0.0), val_gain=(0.0, 0.0)), "not reproduced", "Δtrain +0.000"),
    (dict(train_gain=(-0.1, 0.0), val_gain=(0.0, 0.0)), "not reproduced", "trains significantly worse"),
    (dict(val_gain=(0.0, -0.05)), "partly", "generalizes significantly worse"),
    (dict(ce_train=(0.5, 0.95)), "partly", "cannot be tested"),  # no overparameterized width
    (dict(split_seeds=(1, 2)), "partly", "Δval +0.030"),  # 2 evaluation splits: the generalization half is partly
    (dict(moving=(1,)), "partly", "over 0 settled pairs"),  # CE at 8 channels still learning: not a minimum
    (dict(train_gain=(0.0, 0.0), moving=(1,)), "not reproduced", "over 0 settled pairs"),
])
def test_the_claim_fails_or_stops_at_partly_on_made_up_runs(kwargs, status, words):
    from landscape.topics.image.claims import image_mnist1d

    got, ours, _, _ = image_mnist1d(made_up_image(**kwargs))
    assert got == status and words in ours, ours


def test_the_claim_tests_the_width_picked_on_the_selection_runs():
    """The selection runs point at width 8 (gain there only); the evaluation runs' gain at width 2 is not read."""
    from landscape.topics.image.claims import image_mnist1d

    result = made_up_image(ce_train=(0.5, 0.9), train_gain=(0.1, 0.0), selection_gain=(0.0, 0.05),
                           val_gain=(0.0, 0.0))
    status, ours, values, _ = image_mnist1d(result)
    assert values["training_pick"]["width"] == 8 and status == "not reproduced", ours
    no_selection = made_up_image(ce_train=(0.5, 0.9), selection=False, split_seeds=(1, 2, 3, 4))
    _, ours, values, _ = image_mnist1d(no_selection)  # best of k on the same runs, corrected
    assert "Bonferroni" in ours and values["training_pick"]["width"] == 2


def test_select_lr_takes_the_best_validation_accuracy_among_rates_that_never_failed():
    from landscape.topics.image.analysis import select_lr, selection_table

    result = made_up_image(selection=True, split_seeds=())
    # reread the two settings as CE at η = 0.1 and 1: the 'dynamical' one (η = 1) validates better …
    result.update(setting_amplitude=np.array([1.0, 1.0]), setting_lr=np.array([0.1, 1.0]))
    assert select_lr(result) == 1.0
    table = selection_table(result)
    assert table["η"].tolist() == [0.1, 1.0, 0.1, 1.0] and table["settled"].tolist() == [3] * 4 and table["runs"].tolist() == [3] * 4
    result["diverged_at"] = result["diverged_at"].copy()
    result["diverged_at"][0, -1] = 500  # … but one of its runs diverges at 2 channels
    assert select_lr(result) == 0.1
    result["diverged_at"][0, -1] = -1
    result["train_accuracy"] = result["train_accuracy"].copy()
    result["train_accuracy"][0, :, -1] = 0.1  # a collapse at 2 channels does not exclude η = 1 …
    assert select_lr(result) == 1.0 and selection_table(result)["collapsed"].tolist() == [0, 1, 0, 0]
    result["train_accuracy"][1, :, -1] = 0.1  # … one at the largest width does
    assert select_lr(result) == 0.1
    result["diverged_at"][1, 0] = 500
    with pytest.raises(ValueError, match="diverged"):
        select_lr(result)


def test_the_stored_select_result_picks_the_full_presets_learning_rate():
    """The full preset's η is the one the stored `select` result picks (rerun `select` and update LR together)."""
    from landscape.runner import load
    from landscape.topics.image.analysis import select_lr
    from landscape.topics.image.experiment import LR, LR_GRID, MNIST1D, SELECT

    assert {s[3] for s in MNIST1D.settings} == {LR} and LR in LR_GRID
    assert [s[3] for s in SELECT.settings] == list(LR_GRID) and not SELECT.split_seeds
    assert select_lr(load("image", "select")) == LR


def test_mnist1d_splits_share_no_signal():
    """Every data split is its own draw of MNIST-1D: no training or validation signal of one split appears in
    another (selection and evaluation are data-disjoint)."""
    import torch

    from landscape.topics.image.experiment import MNIST1D

    sets = [torch.cat([d.x.flatten(1) for d in MNIST1D.make_data(s, "cpu")]) for s in (0, 4)]
    joined = torch.cat(sets)
    assert len(torch.unique(joined, dim=0)) == len(joined)


def test_image_protocol_meets_the_books_floor():
    """≥ 5 full cycles over the 10 classes before a fixed final plain phase that begins before the read-out window,
    ≥ 8 evaluation runs on ≥ 3 data splits, a selection split of its own."""
    from landscape.statistics import CONVERGENCE_WINDOW
    from landscape.topics.image.experiment import MNIST1D

    c = MNIST1D
    for _, A, T, _ in c.settings:
        if A > 1:
            plain_from = c.schedule(("dce", A, T, 0.3)).plain_ce_from
            assert plain_from == c.steps - c.final_plain_steps
            assert plain_from >= 5 * 10 * (T + 1)
    assert c.final_plain_steps > CONVERGENCE_WINDOW * c.steps
    assert len(c.split_seeds) >= 3 and c.seeds * len(c.split_seeds) >= 8 and c.selection_split_seeds


@pytest.mark.smoke
def test_image_figures_draw_from_a_smoke_result_without_warnings(tmp_path, monkeypatch):
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landscape.runner import load_or_run
    from landscape.store import Store
    from landscape.topics.image.analysis import ce_and_dynamical
    from landscape.topics.image.figures import plot_selection_curves, plot_training_loss

    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")  # the smoke preset is computed here (seconds)
    result = load_or_run("image", "smoke", store=Store(tmp_path / "results"), device="cpu", progress=False)
    _, ce, dyn = ce_and_dynamical(result)
    from landscape.plotting import MAX_PANELS, MIN_TEXT_PX, displayed_text_px, panel_count, set_theme

    with matplotlib.rc_context(), warnings.catch_warnings():  # the book's theme, restored afterwards
        set_theme()
        warnings.simplefilter("error")
        for fig in (plot_selection_curves(result), plot_training_loss(result, ce, dyn[0], final_plain_from=50),
                    plot_training_loss(result, ce, dyn[0], role="selection")):
            assert len(fig.axes) == len(result["widths"])
            # readable at the book's width, as tests/test_plotting.py checks the other figures
            assert displayed_text_px(fig) >= MIN_TEXT_PX and panel_count(fig) <= MAX_PANELS
            plt.close(fig)
