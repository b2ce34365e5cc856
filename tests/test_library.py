"""The library API: the dynamical losses as drop-in nn.Modules (the curvature tools: test_library_curvature.py)."""

import io
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import landscape
from landscape.losses import GammaSchedule, dmse1, dmse2, mse, per_member_losses, weighted_cross_entropy
from landscape.models import MLP
from landscape.validation import ConfigError

C = 4


def batch(n=40, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, C, generator=g, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, C, (n,), generator=g)
    return logits, labels


def probabilities(n=40, seed=1):
    return torch.softmax(torch.randn(n, C, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), 1)


WEIGHT = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)


# ----------------------------------------------------------------------------- A = 1 is nn.CrossEntropyLoss
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, WEIGHT])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("targets", ["indices", "indices with ignored", "probabilities"])
def test_amplitude_one_is_nn_cross_entropy(reduction, weight, label_smoothing, targets):
    logits, labels = batch()
    if targets == "indices with ignored":
        labels = labels.clone()
        labels[::5] = 7  # ignore_index=7
    y = probabilities() if targets == "probabilities" else labels
    ignore_index = -100 if targets == "probabilities" else 7  # torch allows no ignore_index with probabilities
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=label_smoothing, ignore_index=ignore_index)
    ours = landscape.DynamicalCrossEntropy(num_classes=C, amplitude=1.0, period=5, **kwargs)
    theirs = nn.CrossEntropyLoss(**kwargs)
    for _ in range(3):
        a, b = ours(logits, y), theirs(logits, y)
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-14)
        ga, = torch.autograd.grad(a.sum(), logits)
        gb, = torch.autograd.grad(b.sum(), logits)
        torch.testing.assert_close(ga, gb, rtol=1e-13, atol=1e-14)
        ours.step()


@pytest.mark.parametrize("shape", [(3, C, 5, 2), (C,)])
def test_amplitude_one_is_nn_cross_entropy_for_other_shapes(shape):
    """Extra dimensions (N, C, d1, d2) and an unbatched sample (C,), as nn.CrossEntropyLoss takes them."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=g, dtype=torch.float64)
    labels = torch.randint(0, C, shape[:1] + shape[2:] if len(shape) > 1 else (), generator=g)
    ours = landscape.DynamicalCrossEntropy(C, 1.0, 5, weight=WEIGHT)
    torch.testing.assert_close(ours(logits, labels), nn.CrossEntropyLoss(weight=WEIGHT)(logits, labels), rtol=1e-13,
                               atol=0)


# ------------------------------------------------------------------- the paper's loss on the full batch
@pytest.mark.parametrize("t", [0, 3, 5, 6, 20, 31])
def test_full_batch_equals_the_experiments_loss(t):
    """The module at t is bit for bit weighted_cross_entropy(Γ(t)) (the spiral/cycle runs) and, to rounding, the
    ensemble's per_member_losses (the sweeps) and −(1/P) Σ_μ Γ_{y_μ}(t) log p_{y_μ}."""
    logits, labels = batch(300, seed=t)
    schedule = GammaSchedule(C, 70.0, 5)
    gamma = torch.as_tensor(schedule.gamma(t))
    loss_fn = landscape.DynamicalCrossEntropy(num_classes=C, amplitude=70.0, period=5)
    loss_fn.t = t
    ours = loss_fn(logits, labels)
    assert torch.equal(ours, weighted_cross_entropy(logits, labels, gamma))
    manual = -(gamma[labels] * torch.log_softmax(logits, 1)[torch.arange(300), labels]).mean()
    torch.testing.assert_close(ours, manual, rtol=1e-14, atol=0)
    objective, _ = per_member_losses("dce", logits[None], labels, gamma[None])
    torch.testing.assert_close(ours, objective[0], rtol=1e-14, atol=0)


def test_mean_is_over_samples_not_over_gamma_weights():
    """On an unbalanced batch F.cross_entropy(weight=Γ) divides by Σ_μ Γ_{y_μ} and loses most of the emphasis."""
    logits, _ = batch(30)
    labels = torch.tensor([0] * 3 + [1] * 27)  # class 0, the emphasized one, is rare in this batch
    loss_fn = landscape.DynamicalCrossEntropy(C, 70.0, 10).at(5)
    gamma = loss_fn.gamma
    assert gamma[0] > 2.5
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    assert loss_fn(logits, labels).item() == pytest.approx((gamma[labels] * per_sample).sum().item() / 30, rel=1e-14)
    pitfall = F.cross_entropy(logits, labels, weight=gamma).item()
    assert pitfall == pytest.approx((gamma[labels] * per_sample).sum().item() / gamma[labels].sum().item(), rel=1e-12)
    assert abs(pitfall - loss_fn(logits, labels).item()) > 0.5


def test_weight_multiplies_gamma_and_normalizes_as_nn_cross_entropy():
    """ℓ_μ = (1−ε) Γ_y ω_y (−log p_y) + (ε/C) Σ_i Γ_i ω_i (−log p_i); the mean divides by Σ_μ ω_{y_μ} (kept samples)."""
    logits, labels = batch()
    labels = labels.clone()
    labels[:4] = -100
    eps = 0.1
    loss_fn = landscape.DynamicalCrossEntropy(C, 30.0, 8, weight=WEIGHT, label_smoothing=eps).at(4)
    gamma = loss_fn.gamma
    logp = torch.log_softmax(logits, 1)
    kept = labels != -100
    y = labels.clamp_min(0)
    per = (1 - eps) * (gamma * WEIGHT)[y] * -logp[torch.arange(40), y] - eps / C * (gamma * WEIGHT * logp).sum(1)
    per = torch.where(kept, per, torch.zeros_like(per))
    torch.testing.assert_close(loss_fn(logits, labels), per.sum() / WEIGHT[y[kept]].sum(), rtol=1e-13, atol=0)
    loss_fn.reduction = "none"
    torch.testing.assert_close(loss_fn(logits, labels), per, rtol=1e-13, atol=1e-15)
    q = probabilities()  # probability targets: class i's term weighted by Γ_i ω_i, mean over N
    loss_fn.reduction, loss_fn.label_smoothing = "mean", 0.0
    torch.testing.assert_close(loss_fn(logits, q), -(gamma * WEIGHT * q * logp).sum(1).mean(), rtol=1e-13, atol=0)


def test_minibatch_losses_average_to_the_full_batch_loss():
    logits, labels = batch(300)
    loss_fn = landscape.DynamicalCrossEntropy(C, 70.0, 10).at(5)
    minibatches = [loss_fn(z, y) for z, y in zip(logits.split(60), labels.split(60))]
    torch.testing.assert_close(torch.stack(minibatches).mean(), loss_fn(logits, labels), rtol=1e-13, atol=0)


# --------------------------------------------------------------------------------------------- the clock
@pytest.mark.parametrize("kwargs", [dict(num_classes=3, amplitude=70.0, period=7),
                                    dict(num_classes=4, amplitude=5.0, period=4, total_steps=60, final_plain_ce=True)])
def test_step_advances_gamma_along_the_schedule(kwargs):
    schedule = GammaSchedule(**kwargs)
    expected = schedule.gammas(np.arange(80))
    for loss_fn in (landscape.DynamicalCrossEntropy(**kwargs), landscape.DynamicalMSELoss(**kwargs)):
        for t in range(80):
            assert loss_fn.t == t
            assert np.array_equal(loss_fn.gamma.numpy(), expected[t])
            assert np.array_equal(loss_fn.gamma.numpy(), schedule.gamma(t))
            loss_fn.step()


def test_state_dict_round_trips_the_clock():
    loss_fn = landscape.DynamicalCrossEntropy(C, 70.0, 6, weight=WEIGHT)
    for _ in range(17):
        loss_fn.step()
    buffer = io.BytesIO()
    torch.save(loss_fn.state_dict(), buffer)
    buffer.seek(0)
    resumed = landscape.DynamicalCrossEntropy(C, 70.0, 6, weight=torch.ones(C, dtype=torch.float64))
    resumed.load_state_dict(torch.load(buffer))
    assert resumed.t == 17 and torch.equal(resumed.gamma, loss_fn.gamma) and torch.equal(resumed.weight, WEIGHT)
    resumed.step()
    loss_fn.step()
    logits, labels = batch()
    assert torch.equal(resumed(logits, labels), loss_fn(logits, labels))
    dmse = landscape.DynamicalMSELoss(C, 5.0, 3)
    dmse.t = 11
    fresh = landscape.DynamicalMSELoss(C, 5.0, 3)
    fresh.load_state_dict(dmse.state_dict())
    assert fresh.t == 11
    with pytest.raises(ConfigError, match="t"):
        fresh.load_state_dict({"_extra_state": {"t": -2}})


def test_step_argument_and_at_do_not_move_the_clock():
    logits, labels = batch()
    loss_fn = landscape.DynamicalCrossEntropy(C, 70.0, 6)
    frozen = loss_fn.at(9)
    assert torch.equal(loss_fn(logits, labels, step=9), frozen(logits, labels))
    assert loss_fn.t == 0 and frozen.t == 9 and isinstance(frozen, nn.Module)
    assert landscape.DynamicalCrossEntropy(GammaSchedule(C, 70.0, 6)).at(9)(logits, labels).item() == \
        pytest.approx(frozen(logits, labels).item(), rel=0)


def test_a_training_loop_with_the_loss_and_an_optimizer():
    """The drop-in use: mini-batches, Adam, loss_fn.step() after optimizer.step(); float32 and float64 both work."""
    for dtype in (torch.float32, torch.float64):
        model = MLP(2, 8, 3, seed=0, dtype="float32" if dtype == torch.float32 else "float64")
        x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
        y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
        loss_fn = landscape.DynamicalCrossEntropy(3, 10.0, 3)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=16):
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            loss_fn.step()
            assert loss.dtype == dtype and torch.isfinite(loss)
        assert loss_fn.t == 4


# -------------------------------------------------------------------------------------------- DMSE
@pytest.mark.parametrize("variant,reference", [("dmse1", dmse1), ("dmse2", dmse2)])
def test_dynamical_mse_module_equals_the_experiments_loss(variant, reference):
    logits, labels = batch()
    schedule = GammaSchedule(C, 70.0, 5)
    loss_fn = landscape.DynamicalMSELoss(C, 70.0, 5, variant=variant)
    for t in range(8):
        gamma = torch.as_tensor(schedule.gamma(t))
        ours = loss_fn(logits, labels)
        assert torch.equal(ours, reference(logits, labels, gamma))
        objective, _ = per_member_losses(variant, logits[None], labels, gamma[None])
        torch.testing.assert_close(ours, objective[0], rtol=1e-14, atol=0)
        one_hot = F.one_hot(labels, C).to(logits.dtype)  # float targets, one-hot: the same loss
        torch.testing.assert_close(loss_fn(logits, one_hot), ours, rtol=1e-14, atol=0)
        loss_fn.step()
    loss_fn.reduction = "none"
    assert loss_fn(logits, labels).shape == (40,)
    loss_fn.reduction = "sum"
    torch.testing.assert_close(loss_fn(logits, labels), 40 * reference(logits, labels, loss_fn.gamma), rtol=1e-13,
                               atol=0)


@pytest.mark.parametrize("variant", ["dmse1", "dmse2"])
def test_dynamical_mse_with_amplitude_one_is_mse(variant):
    logits, labels = batch()
    loss_fn = landscape.DynamicalMSELoss(C, 1.0, 5, variant=variant)
    for _ in range(4):
        torch.testing.assert_close(loss_fn(logits, labels), mse(logits, labels), rtol=1e-14, atol=0)
        torch.testing.assert_close(loss_fn(logits, labels),
                                   nn.MSELoss(reduction="sum")(logits, F.one_hot(labels, C).double()) / 40,
                                   rtol=1e-14, atol=0)
        loss_fn.step()


# --------------------------------------------------------------------------------------- clear errors
@pytest.mark.parametrize("kwargs,field", [
    (dict(amplitude=0.5), "amplitude"),
    (dict(amplitude=float("nan")), "amplitude"),
    (dict(amplitude=float("inf")), "amplitude"),
    (dict(amplitude=None), "amplitude"),
    (dict(period=0), "period"),
    (dict(period=-3), "period"),
    (dict(period=2.5), "period"),
    (dict(num_classes=1), "num_classes"),
    (dict(reduction="average"), "reduction"),
    (dict(label_smoothing=-0.1), "label_smoothing"),
    (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(label_smoothing=float("nan")), "label_smoothing"),
    (dict(weight=torch.ones(C + 1)), "weight"),
    (dict(weight=torch.ones(C, C)), "weight"),
    (dict(weight=torch.tensor([1.0, -1.0, 1.0, 1.0])), "weight"),
    (dict(weight=torch.tensor([1, 2, 3, 4])), "weight"),  # an integer tensor (a list is converted to float64)
    (dict(ignore_index=1.5), "ignore_index"),
    (dict(total_steps=-5), "total_steps"),
])
def test_bad_arguments_name_the_field(kwargs, field):
    args = dict(num_classes=C, amplitude=10.0, period=5) | kwargs
    with pytest.raises(ConfigError, match=rf"^{field}=.* is not allowed: {field} must be"):
        landscape.DynamicalCrossEntropy(**args)


@pytest.mark.parametrize("kwargs,field", [(dict(variant="dmse3"), "variant"), (dict(reduction="avg"), "reduction"),
                                          (dict(amplitude=0.0), "amplitude")])
def test_bad_mse_arguments_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=rf"^{field}="):
        landscape.DynamicalMSELoss(**(dict(num_classes=C, amplitude=10.0, period=5) | kwargs))


@pytest.mark.parametrize("loss_cls", [landscape.DynamicalCrossEntropy, landscape.DynamicalMSELoss])
def test_bad_inputs_name_the_field(loss_cls):
    loss_fn = loss_cls(C, 10.0, 5)
    logits, labels = batch()
    cases = [
        ((logits, torch.full((40,), C)), "targets"),  # a label ≥ C: not torch's IndexError
        ((logits, torch.full((40,), -1)), "targets"),
        ((logits, labels[:30]), "targets"),
        ((logits, probabilities()[:, :3]), "targets"),
        ((logits[:, :3], labels), "logits"),
        ((labels, labels), "logits"),
    ]
    for args, field in cases:
        with pytest.raises(ConfigError, match=rf"^{field}="):
            loss_fn(*args)
    with pytest.raises(ConfigError, match=r"targets=\[4, 9\] is not allowed: targets must be class labels in 0...3"):
        loss_fn(logits, torch.tensor([4, 9, 0, 4] * 10))
    if loss_cls is landscape.DynamicalCrossEntropy:
        with pytest.raises(ConfigError, match=r"^ignore_index="):
            landscape.DynamicalCrossEntropy(C, 10.0, 5, ignore_index=0)(logits, probabilities())


@pytest.mark.parametrize("bad", [-1, 2.7, True, np.float64(3.0)])
def test_negative_or_non_integer_steps_are_errors(bad):
    """Before, a negative step wrapped around the cycle and 2.7 was truncated to 2, silently."""
    logits, labels = batch()
    loss_fn = landscape.DynamicalCrossEntropy(C, 10.0, 5)
    schedule = GammaSchedule(C, 10.0, 5)
    calls = [(lambda: loss_fn(logits, labels, step=bad), "step"), (lambda: loss_fn.at(bad), "step"),
             (lambda: setattr(loss_fn, "t", bad), "t"), (lambda: schedule.gamma(bad), "step")]
    if not isinstance(bad, bool):  # (in a list, NumPy reads True as the integer 1)
        calls.append((lambda: schedule.gammas([0, 1, bad]), "steps"))
    for call, field in calls:
        with pytest.raises(ConfigError, match=rf"^{field}="):
            call()
    assert loss_fn.t == 0
    assert np.array_equal(schedule.gamma(np.int64(7)), schedule.gammas(np.arange(8))[7])  # NumPy integers are fine


# ------------------------------------------------------------------------------------------ the package
def test_the_api_is_exported_and_import_stays_light():
    code = ("import sys, landscape; light = 'torch' not in sys.modules; "
            "names = [getattr(landscape, n) for n in landscape.__all__]; print(light, landscape.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", landscape.__version__]
    assert {"DynamicalCrossEntropy", "DynamicalMSELoss", "hessian_eigenvalues", "hessian_trace", "hessian_spectrum",
            "empirical_ntk"} <= set(landscape.__all__)
