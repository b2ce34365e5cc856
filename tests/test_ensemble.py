import numpy as np
import pytest
import torch

from landscape.curvature import HessianOperator, hessian_eigenvalues
from landscape.data import spiral
from landscape.ensemble import EnsembleMLP, GammaBank, hessian_probe, train_ensemble
from landscape.estimators import lanczos, tridiagonal
from landscape.losses import LOSSES, GammaSchedule, dynamical_loss, mse, per_member_losses
from landscape.models import MLP
from landscape.runtime import Checkpoint
from landscape.training import EnsembleModel, evaluate, train_full_batch
from landscape.validation import ConfigError

from single_thread import one_thread  # noqa: F401  (autouse)


@pytest.fixture
def data():
    return spiral()


@pytest.mark.parametrize("depth,init", [(1, "ntk2021"), (2, "ntk2021"), (1, "nobias"), (2, "glorot")])
@pytest.mark.parametrize("loss", LOSSES)
def test_hand_written_gradients_match_autograd(data, depth, init, loss):
    model = EnsembleMLP.init(2, 7, 3, seeds=[0, 1, 2], depth=depth, init=init)
    gamma = torch.as_tensor(GammaSchedule(3, 30.0, 20).gammas([3, 10, 31]))  # a different Γ per member
    obj, stat, logits, grads = model.loss_and_grad(data.x, data.y, gamma, loss)
    ref_obj, ref_stat, ref_logits, ref_grads = EnsembleModel.loss_and_grad(model, data.x, data.y, gamma, loss)
    torch.testing.assert_close(obj, ref_obj, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(stat, ref_stat, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-12, atol=1e-14)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-13)


def test_members_are_the_seeded_single_models(data):
    model = EnsembleMLP.init(2, 9, 3, seeds=[4, 7], depth=2)
    for e, seed in enumerate([4, 7]):
        single = MLP(2, 9, 3, depth=2, seed=seed)
        torch.testing.assert_close(model(data.x)[e], single(data.x), rtol=1e-13, atol=1e-13)
        for p, q in zip(model.member(e).parameters(), single.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("loss", LOSSES)
def test_per_member_losses_match_the_single_model_losses(loss):
    torch.manual_seed(0)
    logits, y = torch.randn(4, 50, 3, dtype=torch.float64), torch.randint(0, 3, (50,))
    gamma = torch.as_tensor(GammaSchedule(3, 10.0, 8).gammas([0, 2, 4, 9]))
    obj, stat = per_member_losses(loss, logits, y, gamma)
    for e in range(4):
        assert obj[e].item() == pytest.approx(dynamical_loss(loss, logits[e], y, gamma[e]).item(), rel=1e-13)
        static = torch.nn.functional.cross_entropy(logits[e], y) if loss == "dce" else mse(logits[e], y)
        assert stat[e].item() == pytest.approx(static.item(), rel=1e-13)


def test_ensemble_follows_the_single_model_trainer(data):
    """Same seeds, same schedule, per-member learning rates and schedules: the same trajectories (float64)."""
    seeds, steps = [0, 1, 2, 3], 300
    schedules = [GammaSchedule(3, 70.0, 50), None, GammaSchedule(3, 5.0, 20), GammaSchedule(3, 70.0, 50)]
    lrs = [1.0, 0.5, 1.0, 0.25]
    log = train_ensemble(EnsembleMLP.init(2, 30, 3, seeds), data, schedules=schedules, lr=lrs, steps=steps)
    for e, (seed, schedule, lr) in enumerate(zip(seeds, schedules, lrs)):
        gamma = None if schedule is None else schedule.gammas(np.arange(steps + 1))
        ref = train_full_batch(MLP(2, 30, 3, seed=seed), data, gamma, lr, steps)
        np.testing.assert_allclose(log.objective[:, e], ref.objective, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(log.static_loss[:, e], ref.cross_entropy, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(log.accuracy[:, e], ref.accuracy)


def test_float32_ensemble_stays_close_to_the_single_model(data):
    d = spiral(dtype=torch.float32)
    log = train_ensemble(EnsembleMLP.init(2, 20, 3, [5], dtype="float32"), d, lr=0.5, steps=100)
    ref = train_full_batch(MLP(2, 20, 3, seed=5, dtype="float32"), d, None, 0.5, 100)
    np.testing.assert_allclose(log.objective[:, 0], ref.objective, rtol=1e-4)


def single_model_mse_loop(model, data, kind, schedule, lr, steps):
    out = []
    params = list(model.parameters())
    for t in range(steps + 1):
        gamma = torch.ones(3, dtype=torch.float64) if schedule is None else torch.as_tensor(schedule.gamma(t))
        loss = dynamical_loss(kind, model(data.x), data.y, gamma)
        out.append(loss.item())
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g
    return np.array(out)


@pytest.mark.parametrize("kind", ["dmse1", "dmse2"])
def test_mse_variants_follow_a_single_model_loop(data, kind):
    schedule = GammaSchedule(3, 20.0, 30)
    log = train_ensemble(EnsembleMLP.init(2, 16, 3, [0, 1]), data, loss=kind, schedules=schedule, lr=0.2, steps=120)
    for e in range(2):
        ref = single_model_mse_loop(MLP(2, 16, 3, seed=e), data, kind, schedule, 0.2, 120)
        np.testing.assert_allclose(log.objective[:, e], ref, rtol=1e-9, atol=1e-12)


def test_records_and_eval_sets(data):
    val = spiral(seed=1)
    log = train_ensemble(EnsembleMLP.init(2, 8, 3, [0, 1, 2]), data, lr=0.5, steps=25, record_every=10,
                         eval_sets={"validation": val})
    assert log.steps.tolist() == [0, 10, 20, 25]
    assert log.objective.shape == log.evals["validation"]["accuracy"].shape == (4, 3)
    member = EnsembleMLP.init(2, 8, 3, [0, 1, 2])
    loss0, acc0 = evaluate(member, val)
    np.testing.assert_allclose(log.evals["validation"]["loss"][0], loss0.numpy(), rtol=1e-12)
    np.testing.assert_allclose(log.evals["validation"]["accuracy"][0], acc0.numpy())


def test_a_diverging_member_is_recorded_and_the_others_go_on(data):
    lrs = [0.5, 1e300, 0.5]
    log = train_ensemble(EnsembleMLP.init(2, 50, 3, [0, 0, 1]), data, lr=lrs, steps=200, record_every=5)
    assert log.diverged_at[0] == -1 and log.diverged_at[2] == -1
    assert 0 < log.diverged_at[1] <= 200
    assert np.isnan(log.objective[-1, 1]) and np.isfinite(log.objective[:, [0, 2]]).all()
    ref = train_full_batch(MLP(2, 50, 3, seed=0), data, None, 0.5, 200)
    np.testing.assert_allclose(log.objective[:, 0], ref.objective[::5], rtol=1e-9)


def test_bad_inputs_name_the_field(data):
    model = EnsembleMLP.init(2, 4, 3, [0, 1])
    with pytest.raises(ConfigError, match="loss"):
        train_ensemble(model, data, loss="hinge", steps=2)
    with pytest.raises(ConfigError, match="lr"):
        train_ensemble(model, data, lr=[0.1, float("nan")], steps=2)
    with pytest.raises(ConfigError, match="schedules"):
        train_ensemble(model, data, schedules=[None], steps=2)
    with pytest.raises(ConfigError, match="num_classes"):
        train_ensemble(model, data, schedules=GammaSchedule(4, 2.0, 5), steps=2)
    with pytest.raises(ConfigError, match="seeds"):
        EnsembleMLP.init(2, 4, 3, [])


def test_gamma_bank_matches_the_schedules():
    schedules = [GammaSchedule(3, 70.0, 7), None, GammaSchedule(3, 2.0, 3, 40, True)]
    bank = GammaBank(schedules, 3, torch.float64, "cpu", table_steps=16)
    for t in [0, 5, 15, 16, 17, 39, 40]:
        expected = np.stack([np.ones(3) if s is None else s.gamma(t) for s in schedules])
        np.testing.assert_allclose(bank(t).numpy(), expected, rtol=1e-15)


class Interrupt(Exception):
    pass


def test_an_interrupted_ensemble_run_resumes_to_the_same_result(tmp_path, data):
    kwargs = dict(schedules=GammaSchedule(3, 70.0, 40), lr=1.0, steps=400, record_every=3, early_steps=300)
    reference = train_ensemble(EnsembleMLP.init(2, 12, 3, [0, 1]), data, **kwargs)
    assert reference.early_objective.shape == (301, 2)  # the objective at every step t ≤ 300, the recorded ones too
    np.testing.assert_array_equal(reference.early_objective[::3], reference.objective[:101])

    def boom(model, t):
        if t >= 250:
            raise Interrupt
        return np.zeros(model.size)

    from landscape.training import Probe
    checkpoint = Checkpoint(tmp_path / "partial.pt", every_s=0.0)
    with pytest.raises(Interrupt):
        train_ensemble(EnsembleMLP.init(2, 12, 3, [0, 1]), data, probes=[Probe("p", 50, boom)],
                       checkpoint=checkpoint, **kwargs)
    assert 100 < checkpoint.load()["next_step"] <= 250
    resumed = train_ensemble(EnsembleMLP.init(2, 12, 3, [8, 9]), data, checkpoint=checkpoint, **kwargs)
    np.testing.assert_array_equal(resumed.objective, reference.objective)
    np.testing.assert_array_equal(resumed.accuracy, reference.accuracy)
    np.testing.assert_array_equal(resumed.early_objective, reference.early_objective)


@pytest.mark.parametrize("loss", LOSSES)
def test_batched_hessian_top_eigenvalue_matches_the_exact_hessian(data, loss):
    model = EnsembleMLP.init(2, 6, 3, [0, 1, 2], depth=2)
    gamma = torch.as_tensor(GammaSchedule(3, 70.0, 100).gammas([0, 50, 120]))
    lam = hessian_eigenvalues(model, lambda z, y: per_member_losses(loss, z, y, gamma)[0], (data.x, data.y),
                              lanczos_steps=80).values[:, 0]
    for e in range(3):
        crit = lambda z, y, g=gamma[e]: dynamical_loss(loss, z, y, g)
        exact = torch.linalg.eigvalsh(HessianOperator(model.member(e), crit, (data.x, data.y)).dense())[-1]
        assert lam[e].item() == pytest.approx(exact.item(), rel=1e-8)


def test_batched_lanczos_recovers_known_spectra():
    torch.manual_seed(0)
    mats, eigs = [], []
    for k in range(3):
        Q, _ = torch.linalg.qr(torch.randn(30, 30, dtype=torch.float64))
        eig = torch.linspace(-1, 2 + k, 30, dtype=torch.float64)
        mats.append(Q @ torch.diag(eig) @ Q.T)
        eigs.append(eig)
    A = torch.stack(mats)
    alpha, beta, _, _ = lanczos(lambda v: torch.einsum("eij,ej->ei", A, v), 30, 30, members=3)
    T = tridiagonal(alpha, beta)
    torch.testing.assert_close(torch.linalg.eigvalsh(T), torch.stack(eigs), rtol=1e-8, atol=1e-8)


def test_hessian_probe_runs_in_training(data):
    schedule = GammaSchedule(3, 70.0, 20)
    log = train_ensemble(EnsembleMLP.init(2, 10, 3, [0, 1]), data, schedules=schedule, lr=0.5, steps=30,
                         probes=[hessian_probe(data, "dce", schedule, every=10)])
    steps, values = log.probes["hessian_max"]
    assert steps.tolist() == [0, 10, 20, 30] and values.shape == (4, 2) and (values > 0).all()
