import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.loss_modules import DynamicalCrossEntropy
from landscape.losses import GammaSchedule, weighted_cross_entropy
from landscape.validation import ConfigError


def authors_loop(num_classes, amplitude, period, total, final_plain_ce=False):
    """Γ(t) by the authors' state machine: τ increments after each step and resets when τ > T, moving to c + 1."""
    tau, c, A, out = 0, 0, amplitude, []
    boundary_seen = False
    for t in range(total + 1):
        if final_plain_ce and tau == 0 and t >= total - period and not boundary_seen:
            A, boundary_seen = 1.0, True
        w = np.ones(num_classes)
        w[c] = 1 + 2 * (A - 1) * tau / period if tau < period / 2 else 2 * A - 1 - 2 * (A - 1) * tau / period
        out.append(num_classes * w / w.sum())
        tau += 1
        if tau > period:
            tau, c = 0, (c + 1) % num_classes
    return np.array(out)


@pytest.mark.parametrize("C,A,T,total,last", [(3, 70.0, 10, 100, False), (3, 70.0, 10, 100, True),
                                              (10, 5.0, 7, 200, True), (2, 3.0, 1, 20, False)])
def test_schedule_matches_the_authors_state_machine(C, A, T, total, last):
    schedule = GammaSchedule(C, A, T, total, last)
    np.testing.assert_allclose(schedule.gammas(np.arange(total + 1)), authors_loop(C, A, T, total, last), atol=1e-12)


def test_gammas_sum_to_C_and_peak_value():
    s = GammaSchedule(3, 70.0, 5000)
    g = s.gammas(np.arange(20_000))
    np.testing.assert_allclose(g.sum(1), 3.0, atol=1e-12)
    assert s.peak_gamma() == pytest.approx(3 * 70 / 72)
    assert g[2500, 0] == pytest.approx(s.peak_gamma(), rel=1e-12)
    assert g[2500, 0] == pytest.approx(2.917, abs=1e-3)
    assert g[2500, 1] == pytest.approx(3 / 72)
    # class 0 first, each class emphasized for T + 1 steps, ends at Γ = 1
    assert g[0] == pytest.approx([1, 1, 1]) and g[5000] == pytest.approx([1, 1, 1])
    assert g[5001 + 2500].argmax() == 1 and g[2 * 5001 + 2500].argmax() == 2 and g[3 * 5001 + 2500].argmax() == 0


def test_fig4_final_period_is_plain_ce():
    s = GammaSchedule(3, 70.0, 5000, 70_000, final_plain_ce=True)
    assert s.plain_ce_from == 13 * 5001
    g = s.gammas(np.arange(70_001))
    assert np.all(g[s.plain_ce_from:] == 1.0) and g[s.plain_ce_from - 2501].max() > 2.9


@pytest.mark.parametrize("period", [100, 400, 4000])
def test_final_plain_phase_has_one_length_for_every_period(period):
    s = GammaSchedule(3, 10.0, period, 30_000, final_plain_steps=2_000)
    assert s.plain_ce_from == 28_000
    g = s.gammas(np.arange(30_001))
    assert np.all(g[28_000:] == 1.0)
    assert np.any(g[:28_000] != 1.0)  # before it the emphasis runs on


def test_amplitude_one_is_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(50, 4, dtype=torch.float64), torch.randint(0, 4, (50,))
    loss = DynamicalCrossEntropy(GammaSchedule(4, 1.0, 10))
    for t in (0, 3, 7, 11, 40):
        assert loss(logits, y, t).item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-14)


def test_weighted_loss_averages_over_samples_not_over_weights():
    torch.manual_seed(0)
    logits, y = torch.randn(30, 3), torch.randint(0, 3, (30,))
    gamma = torch.tensor([2.9, 0.05, 0.05])
    ours = weighted_cross_entropy(logits, y, gamma)
    manual = -(gamma[y] * torch.log_softmax(logits, 1)[torch.arange(30), y]).sum() / 30
    assert ours.item() == pytest.approx(manual.item(), rel=1e-6)
    assert ours.item() != pytest.approx(F.cross_entropy(logits, y, weight=gamma).item(), rel=1e-3)


@pytest.mark.parametrize("kwargs,field", [
    (dict(num_classes=3, amplitude=0.5, period=10), "amplitude"),
    (dict(num_classes=3, amplitude=float("nan"), period=10), "amplitude"),
    (dict(num_classes=3, amplitude=2.0, period=0), "period"),
    (dict(num_classes=3, amplitude=2.0, period=-5), "period"),
    (dict(num_classes=1, amplitude=2.0, period=10), "num_classes"),
    (dict(num_classes=3, amplitude=2.0, period=10, final_plain_ce=True), "total_steps"),
    (dict(num_classes=3, amplitude=2.0, period=10, final_plain_steps=5), "total_steps"),
    (dict(num_classes=3, amplitude=2.0, period=10, total_steps=50, final_plain_steps=50), "final_plain_steps"),
    (dict(num_classes=3, amplitude=2.0, period=10, total_steps=50, final_plain_steps=-1), "final_plain_steps"),
    (dict(num_classes=3, amplitude=2.0, period=10, total_steps=50, final_plain_ce=True, final_plain_steps=5),
     "final_plain_steps"),
])
def test_bad_schedule_inputs_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        GammaSchedule(**kwargs)


def test_gamma_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one weight per class"):
        weighted_cross_entropy(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long), torch.ones(4))


# ------------------------------------------------------------------- MSE variants (the book's reading of 2410.10690)
from landscape.losses import LOSSES, dmse1, dmse2, dynamical_loss, mse, per_member_losses  # noqa: E402


@pytest.mark.parametrize("kind", ["dmse1", "dmse2"])
def test_dmse_vanishes_where_mse_vanishes(kind):
    y = torch.randint(0, 4, (40,), generator=torch.Generator().manual_seed(0))
    perfect = F.one_hot(y, 4).to(torch.float64)
    schedule = GammaSchedule(4, 70.0, 10)
    for t in (0, 3, 5, 17):
        assert dynamical_loss(kind, perfect, y, schedule.gamma(t)).item() == 0.0
    off = perfect + 0.1
    for t in (0, 3, 5, 17):
        assert dynamical_loss(kind, off, y, schedule.gamma(t)).item() > 0


@pytest.mark.parametrize("kind", ["dmse1", "dmse2"])
def test_dmse_with_amplitude_one_is_mse(kind):
    torch.manual_seed(0)
    logits, y = torch.randn(50, 3, dtype=torch.float64), torch.randint(0, 3, (50,))
    plain = GammaSchedule(3, 1.0, 10)
    manual = ((logits - F.one_hot(y, 3)) ** 2).sum(1).mean()
    for t in (0, 4, 9, 23):
        assert dynamical_loss(kind, logits, y, plain.gamma(t)).item() == pytest.approx(manual.item(), rel=1e-14)
    assert mse(logits, y).item() == pytest.approx(manual.item(), rel=1e-14)


def test_dmse_forms_weight_samples_or_outputs():
    logits = torch.tensor([[0.5, 0.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    gamma = torch.tensor([3.0, 0.5], dtype=torch.float64)
    # squared errors: sample 0 (class 0): (0.25, 0); sample 1 (class 1): (0, 1)
    assert dmse1(logits, y, gamma).item() == pytest.approx((3.0 * 0.25 + 0.5 * 1.0) / 2)
    assert dmse2(logits, y, gamma).item() == pytest.approx((3.0 * 0.25 + 0.5 * 1.0) / 2)
    logits = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)  # sample 0 misses on output 1
    assert dmse1(logits, y, gamma).item() == pytest.approx(3.0 * 1.0 / 2)  # weighted by its class, 0
    assert dmse2(logits, y, gamma).item() == pytest.approx(0.5 * 1.0 / 2)  # weighted by the output, 1


def test_dynamical_loss_names_the_allowed_kinds():
    """Every advertised kind computes its own loss, in one model and in an ensemble, and an unknown kind's error
    names them all. Sample 0 (class 0) has logits (0, 1, 0), sample 1 (class 2) zeros; Γ = (2, 1, 0.5)."""
    logits = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y, gamma = torch.tensor([0, 2]), torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    ce0, ce1 = np.log(2 + np.e), np.log(3.0)  # −log softmax at the true class
    expected = {"dce": ((2 * ce0 + 0.5 * ce1) / 2, (ce0 + ce1) / 2),  # (objective, static loss)
                "dmse1": ((2 * 2 + 0.5 * 1) / 2, 1.5),  # sample 0 misses twice, weighted by Γ₀
                "dmse2": ((2 * 1 + 1 * 1 + 0.5 * 1) / 2, 1.5)}  # each miss weighted by its output's Γ
    with pytest.raises(ConfigError, match="loss") as err:
        dynamical_loss("hinge", logits, y, gamma)
    for kind in LOSSES:
        assert repr(kind) in str(err.value)
        assert dynamical_loss(kind, logits, y, gamma).item() == pytest.approx(expected[kind][0], rel=1e-12)
        objective, static = per_member_losses(kind, logits[None], y, gamma[None])
        assert (objective.item(), static.item()) == pytest.approx(expected[kind], rel=1e-12)
