import math

import numpy as np
import pytest
import torch

from landscape.topics.lrd_toy import model as toy
from landscape.topics.lrd_toy.model import engine
from landscape.registry import config_from_dict, get_experiment
from landscape.topics.lrd_toy.experiment import DecayConfig, PictureConfig
from landscape.runner import load_or_run
from landscape.runtime import Checkpoint, resolve_device
from landscape.validation import ConfigError

GAMMAS = (0.0, 0.5, 1.0, 2.0)


def small_problem(seeds=(0, 1), n=3, d=6):
    return toy.make_problem(seeds, n, d)


@pytest.mark.parametrize("exponent", GAMMAS)
def test_phi_and_its_inverse(exponent):
    w = torch.randn(3, 4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = toy.phi(w, exponent)
    torch.testing.assert_close(toy.phi_inv(a, exponent), w)
    torch.testing.assert_close(toy.phi(toy.phi_inv(w, exponent), exponent), w)
    torch.testing.assert_close(a.norm(dim=-1), w.norm(dim=-1) ** (1 + exponent))
    assert torch.equal(toy.phi_inv(torch.zeros(1, 1, 3, dtype=torch.float64), exponent), torch.zeros(1, 1, 3,
                                                                                                  dtype=torch.float64))


@pytest.mark.parametrize("exponent", GAMMAS)
def test_w_mn_interpolates_and_has_the_smallest_norm(exponent):
    p = small_problem()
    w_mn = p.w_mn(exponent)  # (S, d)
    assert toy.train_loss(w_mn.unsqueeze(1), p.X, p.y, exponent).max() < 1e-25
    alphas = toy.sample_interpolators(p.X, p.y, 500, scale=3.0, generator=torch.Generator().manual_seed(1))
    ws = toy.phi_inv(alphas, exponent)
    assert toy.train_loss(ws, p.X, p.y, exponent).max() < 1e-20  # they interpolate too
    assert (ws.norm(dim=-1) > w_mn.norm(dim=-1, keepdim=True)).all()
    torch.testing.assert_close(toy.min_norm_radius(p.X, p.y, exponent), w_mn.norm(dim=-1))


def autograd_trace(w, X, y, exponent):
    loss = lambda v: toy.train_loss(v.reshape(1, 1, -1), X.unsqueeze(0), y.unsqueeze(0), exponent).sum()
    return torch.trace(torch.autograd.functional.hessian(loss, w))


@pytest.mark.parametrize("exponent", GAMMAS)
def test_closed_form_hessian_trace_matches_autograd(exponent):
    p = small_problem(seeds=(3,), n=3, d=6)
    X, y = p.X[0], p.y[0]
    on_m = toy.phi_inv(toy.sample_interpolators(p.X, p.y, 3, generator=torch.Generator().manual_seed(2)), exponent)
    off_m = torch.randn(1, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for points, on in ((on_m, True), (off_m, False)):
        exact = torch.stack([autograd_trace(w, X, y, exponent) for w in points[0]])
        torch.testing.assert_close(toy.full_trace(points, p.X, p.y, exponent)[0], exact, rtol=1e-10, atol=1e-10)
        if on:  # the notes' formula in r = ‖w‖ only, and the Gauss–Newton trace, hold on M
            torch.testing.assert_close(toy.manifold_trace(points.norm(dim=-1), p.X, p.y, exponent)[0], exact, rtol=1e-10,
                                       atol=1e-10)
            torch.testing.assert_close(toy.gauss_newton_trace(points, p.X, exponent)[0], exact, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("exponent", GAMMAS)
def test_gauss_newton_and_full_trace_against_a_direct_computation(exponent):
    """gauss_newton_trace = tr (1/n) JᵀXᵀXJ with J = ∂φ/∂w by autograd; full_trace − gauss_newton_trace is the residual
    part, which vanishes on M (so there the two agree) but not off it."""
    p = small_problem(seeds=(4,), n=2, d=4)
    X, y = p.X[0], p.y[0]
    off_m = torch.randn(1, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    on_m = toy.phi_inv(toy.sample_interpolators(p.X, p.y, 2, generator=torch.Generator().manual_seed(6)), exponent)
    for w in off_m[0]:
        J = torch.autograd.functional.jacobian(lambda v: toy.phi(v, exponent), w)
        direct = torch.trace(J.T @ X.T @ X @ J) / X.shape[0]
        torch.testing.assert_close(toy.gauss_newton_trace(w.reshape(1, 1, -1), p.X, exponent)[0, 0], direct)
    residual_part = toy.full_trace(off_m, p.X, p.y, exponent) - toy.gauss_newton_trace(off_m, p.X, exponent)
    assert (residual_part.abs() > 1e-6).all() if exponent > 0 else (residual_part == 0).all()
    torch.testing.assert_close(toy.full_trace(on_m, p.X, p.y, exponent), toy.gauss_newton_trace(on_m, p.X, exponent))


@pytest.mark.parametrize("n,exponent", [(20, 1.0), (20, 2.0), (1, 1.0), (1, 2.0)])
def test_flattest_radius_minimizes_the_trace_on_the_manifold(n, exponent):
    p = toy.make_problem((0,), n, 50 if n > 1 else 2)
    r_mn = float(toy.min_norm_radius(p.X, p.y, exponent)[0])
    r = torch.linspace(r_mn, 4 * r_mn, 20001, dtype=torch.float64).reshape(1, -1)
    trace = toy.manifold_trace(r, p.X, p.y, exponent)[0]
    r_flat = float(toy.flattest_radius(p.X, p.y, exponent)[0])
    assert r_flat == pytest.approx(float(r[0, trace.argmin()]), rel=1e-3)
    assert (r_flat == pytest.approx(r_mn)) == (n == 20)  # w_mn is the flattest point for n = 20, not for n = 1


def test_expected_test_loss_of_w_mn_matches_the_closed_form():
    n, d, draws = 20, 50, 2000
    p = toy.make_problem(range(draws), n, d)
    loss_mn = toy.test_loss(p.w_mn(1.0).unsqueeze(1), p.alpha_star, 1.0)[:, 0]
    expected = toy.expected_min_norm_test_loss(n, d)  # ½(1 − n/d)·E‖α*‖² = 0.3
    se = float(loss_mn.std()) / math.sqrt(draws)
    assert abs(float(loss_mn.mean()) - expected) < 5 * se and se < 0.003
    # any other interpolator α_mn + v, v ∈ ker X drawn without knowing α*, costs ½‖v‖² more on average
    alphas = toy.sample_interpolators(p.X, p.y, 1, scale=1.0, generator=torch.Generator().manual_seed(0))
    loss_other = 0.5 * (alphas[:, 0] - p.alpha_star).square().sum(-1)
    excess = loss_other - loss_mn
    half_v2 = 0.5 * (alphas[:, 0] - p.alpha_mn()).square().sum(-1)
    assert abs(float((excess - half_v2).mean())) < 5 * float((excess - half_v2).std()) / math.sqrt(draws)
    assert float(loss_other.mean()) > float(loss_mn.mean()) + 0.25  # E½‖v‖² = ½(d − n)/d = 0.3


def mixed_variants():
    return toy.Variants(exponent=(0.0, 1.0, 1.0, 2.0), noise=("label", "label", "isotropic", "plain"),
                        sigma=(0.3, 0.3, 0.2, 0.3), lr=(0.01, 0.01, 0.005, 0.01), decay_step=(0, 150, 300, 60))


def test_sgd_vectorized_over_runs_equals_a_loop_of_single_runs():
    p = toy.make_problem((0, 7), 4, 8)
    w0 = toy.initial_points((0, 7), 8, 1.5)
    v = mixed_variants()
    schedule = toy.Schedule(small_lr_steps=100, polish_steps=50, batch_size=2)
    recording = toy.Recording(log_every=40, prefix_steps=20)
    batched = toy.sgd(p, w0, v, schedule, recording)
    for s in range(2):
        for m in range(len(v)):
            single = toy.sgd(p.select(s), w0[s:s + 1], v.select(m), schedule, recording)
            np.testing.assert_allclose(single.w_final[0, 0], batched.w_final[s, m], rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(single.final["test_loss"][0, 0], batched.final["test_loss"][s, m], rtol=1e-10)
            np.testing.assert_allclose(single.prefix_test_loss[0, 0], batched.prefix_test_loss[s, m], rtol=1e-10)
            common = np.isin(batched.steps, single.steps)  # a single run's log stops at its own end
            np.testing.assert_allclose(single.curves["trace"][0, 0, np.isin(single.steps, batched.steps)],
                                       batched.curves["trace"][s, m, common], rtol=1e-10)
            assert np.isnan(batched.curves["trace"][s, m, batched.steps > v.decay_step[m] + 100]).all()
            for k, value in single.sgd_end.items():
                np.testing.assert_allclose(value[0, 0], batched.sgd_end[k][s, m], rtol=1e-10)


def test_an_isotropic_step_adds_noise_scaled_by_the_gauss_newton_trace():
    """One isotropic-noise step by hand: w₁ = w₀ − η(∇L̂_b(w₀) + σ √(tr G(w₀)/(B d)) ζ₀), with the minibatch and ζ₀ of
    the seed's noise stream and tr G = gauss_newton_trace."""
    p, w0 = toy.make_problem((3,), 4, 6), toy.initial_points((3,), 6, 1.5)
    eta, sigma, B = 0.01, 0.3, 2
    log = toy.sgd(p, w0, toy.Variants((1.0,), ("isotropic",), (sigma,), (eta,), (5,)),
                  toy.Schedule(small_lr_steps=0, polish_steps=0, batch_size=B), until=1)
    idx, _, gauss = engine.noise_block(3, 0, 4, 6, B)
    Xb, yb = p.X[:, idx[0]], p.y[:, idx[0]]
    w = w0.reshape(1, 1, -1).clone().requires_grad_(True)
    grad, = torch.autograd.grad(toy.train_loss(w, Xb, yb, 1.0).sum(), w)
    noise = sigma * torch.sqrt(toy.gauss_newton_trace(w0.reshape(1, 1, -1), p.X, 1.0) / (B * 6)).unsqueeze(-1)
    expected = w0.reshape(1, 1, -1) - eta * (grad + noise * torch.as_tensor(gauss[0]))
    np.testing.assert_allclose(log.w_before_polish, expected.numpy(), rtol=1e-13, atol=1e-15)


def test_label_noise_at_gamma_0_never_moves_along_the_manifold():
    """For γ = 0 every gradient lies in the row space of X: the ker X part of w is that of w₀ (no drift)."""
    p = toy.make_problem((0, 1), 5, 12)
    w0 = toy.initial_points((0, 1), 12, 1.5)
    v = toy.Variants((0.0, 0.0), ("label", "plain"), (0.3, 0.3), (0.01, 0.01), (0, 500))
    log = toy.sgd(p, w0, v, toy.Schedule(small_lr_steps=200, polish_steps=100))
    kernel_part = lambda w: toy.project_kernel(p.X, w).numpy()
    moved = kernel_part(torch.as_tensor(log.w_final)) - kernel_part(w0.unsqueeze(1))
    assert np.abs(moved).max() < 1e-12
    assert np.abs(log.w_final - w0.unsqueeze(1).numpy()).max() > 0.1  # while w itself moved a lot


def test_a_diverging_run_is_recorded_and_the_others_are_unaffected():
    p = toy.make_problem((0,), 4, 8)
    w0 = toy.initial_points((0,), 8, 1.5)
    v = toy.Variants((1.0, 1.0), ("label", "label"), (0.3, 0.3), (0.01, 50.0), (100, 100))
    schedule = toy.Schedule(small_lr_steps=50, polish_steps=20)
    log = toy.sgd(p, w0, v, schedule, toy.Recording(log_every=10))
    assert log.diverged_at[0, 0] == -1 and 0 < log.diverged_at[0, 1] <= 150
    assert np.isnan(log.final["test_loss"][0, 1]) and np.isnan(log.w_final[0, 1]).all()
    later = log.steps >= log.diverged_at[0, 1]
    assert np.isnan(log.curves["test_loss"][0, 1, later]).all()
    assert np.isfinite(log.curves["test_loss"][0, 1, ~later]).all()
    alone = toy.sgd(p, w0, v.select(0), schedule, toy.Recording(log_every=10))
    np.testing.assert_allclose(alone.w_final[0, 0], log.w_final[0, 0], rtol=1e-12)


class Interrupt(Exception):
    pass


def test_an_interrupted_sgd_resumes_to_the_same_result(tmp_path, monkeypatch):
    p = toy.make_problem((0, 1), 4, 8)
    w0 = toy.initial_points((0, 1), 8, 1.5)
    v = mixed_variants()
    monkeypatch.setattr(engine, "NOISE_BLOCK", 64)
    monkeypatch.setattr(engine, "SAVE_EVERY", 50)
    schedule = toy.Schedule(small_lr_steps=200, polish_steps=20)
    reference = toy.sgd(p, w0, v, schedule, toy.Recording(log_every=25))
    real_block = engine.noise_block

    def failing_block(seed, block, *args):
        if block == 2:
            raise Interrupt
        return real_block(seed, block, *args)

    checkpoint = Checkpoint(tmp_path / "partial.pt", every_s=0.0)
    monkeypatch.setattr(engine, "noise_block", failing_block)
    with pytest.raises(Interrupt):
        toy.sgd(p, w0, v, schedule, toy.Recording(log_every=25), checkpoint=checkpoint)
    assert checkpoint.load()["next_step"] == 100  # block 2 starts at step 128; the last save was at 100
    monkeypatch.setattr(engine, "noise_block", real_block)
    resumed = toy.sgd(p, w0, v, schedule, toy.Recording(log_every=25), checkpoint=checkpoint)
    np.testing.assert_array_equal(resumed.w_final, reference.w_final)
    np.testing.assert_array_equal(resumed.curves["dist_mn"], reference.curves["dist_mn"])


@pytest.mark.parametrize("make,field", [
    (lambda: DecayConfig(n=60), "n"),
    (lambda: DecayConfig(noises=("label", "pink")), "noises"),
    (lambda: DecayConfig(exponents=(-1.0,)), "exponents"),
    (lambda: DecayConfig(lr=float("nan")), "lr"),
    (lambda: DecayConfig(decay_steps=(5_000, 2_000)), "decay_steps"),
    (lambda: DecayConfig(seeds=()), "seeds"),
    (lambda: DecayConfig(batch_size=0), "batch_size"),
    (lambda: DecayConfig(batch_size=21), "batch_size"),
    (lambda: DecayConfig(decay_factor=2.0), "decay_factor"),
    (lambda: DecayConfig(dtype="float16"), "dtype"),
    (lambda: PictureConfig(lr_small=0.5), "lr_small"),
    (lambda: PictureConfig(extent=(1.0, -1.0, 0.0, 1.0)), "extent"),
    (lambda: toy.make_problem((0,), 5, 5), "n"),
    (lambda: toy.Variants((1.0,), ("label",), (0.3,), (0.0,), (0,)), "lr"),
    (lambda: toy.Variants((1.0, 1.0), ("label",), (0.3,), (0.1,), (0,)), "noise"),
    (lambda: toy.sgd(toy.make_problem((0,), 2, 4), toy.initial_points((0,), 4, 1.0),
                     toy.Variants((1.0,), ("plain",), (0.0,), (0.1,), (1,)), toy.Schedule(batch_size=3)),
     "batch_size"),
])
def test_bad_inputs_name_the_field(make, field):
    with pytest.raises(ConfigError, match=rf"^{field}="):
        make()


def test_configs_round_trip_through_their_stored_dicts():
    import dataclasses
    import json

    for name in ("lrd_toy_decay", "lrd_toy_picture"):
        exp = get_experiment(name)
        for config in exp.presets.values():
            stored = json.loads(json.dumps(dataclasses.asdict(config)))
            assert config_from_dict(exp.config_type, stored) == config


@pytest.mark.slow
def test_smoke_decay_shows_the_late_decay_effect(tmp_store):
    r = load_or_run("lrd_toy_decay", "smoke", store=tmp_store, device="cpu", progress=False)
    loss = r["final_test_loss"]  # (S, G, N, K); exponents (0, 1); noises label, plain, isotropic
    assert (loss[:, 1, 0, -1] < 0.8 * loss[:, 1, 0, 0]).all()  # γ = 1, label noise: later decay, lower test loss
    # γ = 0: no effect (up to the smoke preset's short GD polish, which leaves the row space not fully converged)
    np.testing.assert_allclose(loss[:, 0, 0, 1:], loss[:, 0, 0, :1].repeat(2, 1), rtol=1e-3)
    assert r.summary["diverged_runs"] == 0


@pytest.mark.slow
def test_smoke_picture_runs(tmp_store):
    r = load_or_run("lrd_toy_picture", "smoke", store=tmp_store, device="cpu", progress=False)
    assert r["trajectory"].shape[:2] == (1, 2) and np.isfinite(r["trajectory"]).all()
    assert r["train_loss_grid"].min() < 0.05  # the grid crosses the valley


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lrd_toy_decay", "lrd_toy_picture"])
def test_stored_results_match_a_recomputation_of_their_first_steps(name):
    from landscape.store import Store, load_result

    exp = get_experiment(name)
    paths = Store().stored(name)
    if not paths:
        pytest.skip(f"no stored result for {name}")
    for path in paths:
        result = load_result(path)
        config = config_from_dict(exp.config_type, result.config)
        for c in exp.drift_check(config, result, device=resolve_device("cpu")):
            assert c.stored.shape == c.recomputed.shape, c.name
            np.testing.assert_allclose(c.recomputed, c.stored, rtol=c.rtol, atol=c.atol, err_msg=c.name)


def test_lrd_toy_claims_are_computed_from_stored_results():
    from landscape.scorecard import STATUSES, evaluate_claims

    claims = {c.id: c for c in evaluate_claims("lrd_toy")}
    assert set(claims) == {"lrd.toy.late_decay_lowers_test_loss", "lrd.toy.reaches_min_norm",
                           "lrd.toy.gamma0_no_effect", "lrd.toy.noise_model", "lrd.toy.trace_decreases_along_path"}
    for c in claims.values():
        assert c.status in STATUSES and c.ours and c.paper and c.criterion
        assert c.status == "not testable" or c.values  # the numbers behind `ours` travel with the claim


def test_interpolator_study_matches_its_closed_forms():
    from landscape.topics.lrd_toy.analysis import GD_FROM_W0, MIN_NORM, RANDOM_V, interpolator_study

    study = interpolator_study(12, 6, 1.5, draws=400, sizes=(2, 6, 10))
    assert list(study.table["interpolator"]) == [MIN_NORM, RANDOM_V, GD_FROM_W0]
    assert len(study.simulated) == 3 * 3 * 400 and set(study.simulated["n"]) == {2, 6, 10}
    assert study.factor == {MIN_NORM: 1.0, RANDOM_V: 2.0, GD_FROM_W0: 1.0 + 1.5 ** 2}
    np.testing.assert_allclose(study.table["closed form"], [f * 0.5 * (1 - 6 / 12) for f in study.factor.values()])
    assert (study.table["distance from closed form, in s.e."] < 4).all()  # 400 teachers: within a few s.e.
    assert study.closed_form(MIN_NORM, 3) == pytest.approx(0.5 * (1 - 3 / 12))
    # w_mn is best on average; the same seeds give the same numbers
    means = study.table["simulated mean test loss"]
    assert means.iloc[0] < means.iloc[1:].min()
    again = interpolator_study(12, 6, 1.5, draws=400, sizes=(2, 6, 10))
    assert again.simulated.equals(study.simulated)
    with pytest.raises(ValueError, match="simulated sizes"):
        interpolator_study(12, 5, 1.5, draws=10, sizes=(2, 6))


def test_valley_and_trace_checks_of_the_model_chapter():
    from landscape.topics.lrd_toy.analysis import FIT, MID, TRACE_ERRORS, kappa, trace_check, valley_check

    problem = toy.make_problem((0,), 5, 10)
    valley = valley_check(problem, (0.0, 1.0), points=100)
    assert (valley[FIT] < 1e-20).all()  # the points are training minima
    assert (valley["smallest ‖w‖ / ‖w_mn‖"] >= 1 - 1e-12).all()  # none shorter than w_mn
    assert valley[MID].iloc[0] < 1e-20 < 1e-6 < valley[MID].iloc[1]  # flat for γ = 0, curved for γ = 1
    trace = trace_check(problem, (0.0, 1.0), points=2)
    assert list(trace["points"]) == ["on M", "off M"] * 2
    errors = trace[list(TRACE_ERRORS)].to_numpy()
    assert np.nanmax(errors) < 1e-10 and np.isnan(errors[1::2, 1]).all()  # the formula in r holds on M only
    # κ = 1 for a single sample, whatever the data
    one = toy.Problem.from_arrays(np.array([[0.3, -1.2]]), np.array([0.7, 0.1]))
    assert kappa(one) == pytest.approx(1.0, abs=1e-13)
    with pytest.raises(ValueError, match="single training set"):
        kappa(toy.make_problem((0, 1), 2, 4))


def test_model_chapter_checks_take_their_setting_from_the_stored_decay_result(monkeypatch):
    from types import SimpleNamespace

    from landscape.topics.lrd_toy import analysis

    calls = []
    monkeypatch.setattr(analysis, "model_checks", lambda *args, **kw: calls.append((args, kw)) or "checks")
    decay = SimpleNamespace(config={"d": 50, "n": 20, "exponents": [0.0, 1.0, 2.0], "init_norm": 1.5, "lr": 0.01})
    assert analysis.model_chapter_checks("picture", decay, draws=7, sizes=(1, 20)) == "checks"
    assert calls == [(("picture", 50, 20, (0.0, 1.0, 2.0), 1.5), {"draws": 7, "sizes": (1, 20)})]


def made_up_decay(decay_steps, dist):
    """A decay result with one γ (1) and one noise (label): final_dist_mn (seeds, 1, 1, T₁)."""
    dist = np.asarray(dist, dtype=np.float64)
    return {"exponents": np.array([1.0]), "noises": np.array(["label"]), "decay_steps": np.asarray(decay_steps),
            "final_dist_mn": dist.reshape(dist.shape[0], 1, 1, -1)}


def test_efolding_time_of_the_distance_to_w_mn():
    from landscape.topics.lrd_toy.analysis import efolding_time

    t1s = np.array([0, 1_000, 5_000, 10_000, 20_000])
    dist = np.stack([2.0 * np.exp(-t1s / 4_000), 3.0 * np.exp(-t1s / 4_000)])  # two seeds, τ = 4,000
    tau, start = efolding_time(made_up_decay(t1s, dist))
    assert start == 5_000  # the first T₁ ≥ max T₁ / 5
    assert tau == pytest.approx(4_000, rel=1e-12)
    tau, start = efolding_time(made_up_decay([0, 10], [[1.0, 0.5]]))  # only the last T₁ is late enough
    assert np.isnan(tau) and start == 10
    with pytest.raises(KeyError, match="not stored"):
        efolding_time(made_up_decay(t1s, dist), 2.0)


@pytest.mark.slow
def test_model_checks_and_notes_comparison_from_smoke_results(tmp_store):
    from landscape.topics.lrd_toy.analysis import model_checks
    from landscape.topics.lrd_toy.analysis import NOTES_FINAL_TEST_LOSS, NOTES_SOURCE, notes_comparison

    picture = load_or_run("lrd_toy_picture", "smoke", store=tmp_store, device="cpu", progress=False)
    checks = model_checks(picture, 10, 5, (0.0, 1.0, 2.0), 1.5, draws=50, sizes=(1, 5, 9))
    assert list(checks.table.columns) == ["statement", "source", "ours", "criterion", "status"]
    assert len(checks.table) == 4 and set(checks.table["status"]) <= {"reproduced", "partly", "not reproduced"}
    assert len(checks.ends) == 2 * len(picture["seeds"]) and len(checks.large) == len(checks.small)
    assert checks.trace_max_error < 1e-10
    decay = load_or_run("lrd_toy_decay", "smoke", store=tmp_store, device="cpu", progress=False)
    frame = notes_comparison(decay)  # smoke: γ ∈ {0, 1}, T₁ ∈ {0, 1,000, 3,000}: only T₁ = 0 is in the notes too
    assert len(frame) == len(NOTES_FINAL_TEST_LOSS) and set(frame["T₁"]) == {"0"}
    assert frame["notes' check"].tolist() == [ref[0] for ref in NOTES_FINAL_TEST_LOSS.values()]
    assert "late-lr-decay.md" in NOTES_SOURCE
