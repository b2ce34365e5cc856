"""The late-decay claims (toy model and network) on made-up results: for each claim, one made-up result that passes
and one that fails."""

import numpy as np
import pytest

from landscape.scorecard import REASON_LENGTH
from landscape.topics.lrd_toy import claims as toy_claims

T1 = np.array([0, 2000, 5000, 20000, 50000])
LOG = np.arange(0, 50001, 1000)
EXPONENTS, NOISES = [0.0, 1.0, 2.0], ["label", "plain", "isotropic"]


def check(out, status):
    assert out[0] == status, out
    assert len(out) == 4 and 0 < len(out[3]) <= REASON_LENGTH and "\n" not in out[3]
    return out


def fake_decay(*, label_drifts=True, gamma0_flat=True, trace_falls=True, seeds=4):
    """A made-up `lrd_toy_decay` result, arrays (seed, γ, noise, T₁[, step]). With `label_drifts`, label-noise SGD
    at γ > 0 approaches w_mn the longer the large rate lasts (test loss 1.0 → L(w_mn) = 0.3, distance 1 → 0);
    without, it stalls like plain SGD (0.9 at T₁ = 0, 0.7 after). Isotropic noise wanders away (distance × 1.2)."""
    S, G, N, K, L = seeds, len(EXPONENTS), len(NOISES), len(T1), len(LOG)
    wiggle = 1 + 0.02 * np.arange(S)[:, None]  # seeds differ a little
    drift = np.exp(-T1 / 8000.0)[None, :]
    stall = np.where(T1 == 0, 1.0, 0.0)[None, :]
    loss, dist, trace = np.zeros((S, G, N, K)), np.zeros((S, G, N, K)), np.zeros((S, G, N, K))
    for g, gamma in enumerate(EXPONENTS):
        for z, noise in enumerate(NOISES):
            if gamma == 0:
                loss[:, g, z] = 0.9 * wiggle * (1 if gamma0_flat or noise == "isotropic" else 1 + 0.01 * drift)
                dist[:, g, z] = 0.8 * wiggle
            elif noise == "label" and label_drifts:
                loss[:, g, z] = (0.3 + 0.7 * drift) * wiggle
                dist[:, g, z] = drift * wiggle
            elif noise == "isotropic":
                loss[:, g, z] = (1.0 + 0.5 * (T1 > 0)) * wiggle
                dist[:, g, z] = (1.0 + 0.2 * (T1 > 0)) * wiggle
            else:
                loss[:, g, z] = (0.7 + 0.2 * stall) * wiggle
                dist[:, g, z] = (0.9 + 0.1 * stall) * wiggle
            trace[:, g, z] = (35 + 30 * (drift if trace_falls else 1 - drift)) * wiggle
    falling = 45 - 10 * LOG / LOG[-1] if trace_falls else 35 + 10 * LOG / LOG[-1]
    curve = np.broadcast_to(falling, (S, G, N, K, L)).copy()
    return {"seeds": np.arange(S), "exponents": np.array(EXPONENTS), "noises": np.array(NOISES), "decay_steps": T1,
            "log_steps": LOG, "final_test_loss": loss, "final_dist_mn": dist, "final_trace": trace,
            "test_loss_mn": 0.3 * np.broadcast_to(wiggle, (S, G)), "sgd_end_dist_mn": dist + 0.05,
            "dist_mn_curve": curve / 40, "trace_curve": curve, "norm_curve": curve / 40,
            "norm_mn": np.full((S, G), 0.8), "trace_mn": 35 * np.broadcast_to(wiggle, (S, G)),
            "flattest_norm": np.full((S, G), 0.8 if trace_falls else 1.2)}


def test_late_decay_is_partly_at_most_on_the_reconstruction():
    out = check(toy_claims.late_decay_lowers_test_loss(fake_decay()), "partly")
    assert out[2]["effect_status"] == "reproduced" and "book's model" in out[3] and "plain SGD" in out[3]
    out = check(toy_claims.late_decay_lowers_test_loss(fake_decay(label_drifts=False)), "not reproduced")
    assert out[2]["drop"][0] == pytest.approx(2 / 9)  # plain-like: 0.9 → 0.7, a drop below the 30 % that counts
    spread = fake_decay()  # seeds that disagree: drops of 60 %, 0 %, 50 % and −10 %
    spread["final_test_loss"][:, 1, 0, -1] = spread["final_test_loss"][:, 1, 0, 0] * np.array([0.4, 1.0, 0.5, 1.1])
    check(toy_claims.late_decay_lowers_test_loss(spread), "inconclusive")


def test_reaches_min_norm_is_partly_at_most_on_the_reconstruction():
    out = check(toy_claims.reaches_min_norm(fake_decay()), "partly")
    assert max(out[2]["ratio"]) < 0.01 and "book's model" in out[3]
    check(toy_claims.reaches_min_norm(fake_decay(label_drifts=False)), "not reproduced")


def test_gamma0_control():
    check(toy_claims.gamma0_no_effect(fake_decay()), "reproduced")
    check(toy_claims.gamma0_no_effect(fake_decay(gamma0_flat=False)), "not reproduced")


def test_noise_model_finding():
    check(toy_claims.noise_model(fake_decay()), "reproduced")
    check(toy_claims.noise_model(fake_decay(label_drifts=False)), "not reproduced")


def test_trace_finding():
    check(toy_claims.trace_decreases_along_path(fake_decay()), "reproduced")
    check(toy_claims.trace_decreases_along_path(fake_decay(trace_falls=False)), "not reproduced")


# ---- the network chapter
from landscape.topics.lrd_network import claims as nn_claims  # noqa: E402

X1, X2 = np.linspace(-20, 21, 42), np.linspace(-15, 15, 31)
EPOCHS = np.arange(10, 641, 10)
DECAYS = np.arange(260, 641, 20)


def fake_landscape(*, travels=True, small_travels=False, in_valley=True):
    """A made-up PCA landscape: a train valley along x₂ = 0 (|x₂| < 3), the test minimum at (15, 0). The main path
    comes down into the valley at x₁ = −15 by epoch 260, then (with `travels`) moves along it to x₁ = 15 by epoch
    640; each subpath (12 snapshots) stays where it branched, or (with `small_travels`) moves as fast as the main
    path. Without `in_valley` the late path runs along x₂ = 8, outside the valley."""
    g1, g2 = np.meshgrid(X1, X2)  # (x₂, x₁)
    train = np.where(np.abs(g2) < 3, 0.005, 0.1 + 0.02 * np.abs(g2))
    test = 0.03 + 0.001 * np.hypot(g1 - 15, g2) + np.where(np.abs(g2) < 3, 0, 0.2)
    x1 = np.where(EPOCHS < 260, -15.0, -15 + 30 * (EPOCHS - 260) / 380 if travels else -15.0)
    x2 = np.where(EPOCHS < 260, 10 * (260 - EPOCHS) / 250, 0.0 if in_valley else 8.0)
    main = np.column_stack([x1, x2, np.zeros((len(EPOCHS), 3))])
    sub = np.zeros((len(DECAYS), 12, 5))
    for j, e in enumerate(DECAYS):
        start = main[EPOCHS == e][0]
        speed = 30 / 38 if small_travels and travels else 0.0  # per snapshot of 10 epochs
        sub[j] = start + np.outer(np.arange(1, 13) * speed, [1, 0, 0, 0, 0])
    return {"seeds": np.array([1, 2, 3]), "grid_x1": X1, "grid_x2": X2, "grid_train_loss": train,
            "grid_test_loss": test, "main_coords": main, "main_snapshot_epochs": EPOCHS, "sub_decay_epochs": DECAYS,
            "sub_coords": sub}


def test_path_claim_against_the_small_rate_null():
    out = check(nn_claims.path_follows_valley(fake_landscape()), "partly")  # one landscape: partly at most
    v = out[2]
    assert v["approach_large"] == pytest.approx(120 / 380) and v["approach_small"] == 0
    assert v["approach_large_end"] == pytest.approx(1) and v["in_valley_fraction"] == 1
    assert v["early_in_valley_fraction"] < 0.5 and "1 seed" in out[3]
    check(nn_claims.path_follows_valley(fake_landscape(travels=False)), "not reproduced")  # stays at the entry
    # a small-rate path that travels as far: the large rate is not what gets there
    check(nn_claims.path_follows_valley(fake_landscape(small_travels=True)), "not reproduced")
    check(nn_claims.path_follows_valley(fake_landscape(in_valley=False)), "partly")


def stacked(*landscapes):
    """Made-up landscapes of three seeds, stored as the experiment stores them (a leading seed axis)."""
    from landscape.pca_landscape import LANDSCAPE_ARRAYS

    out = dict(landscapes[0])
    for k in LANDSCAPE_ARRAYS:
        if k in out:
            out[k] = np.stack([np.asarray(l[k]) for l in landscapes])
    out["landscape_seeds"] = np.array([1, 2, 3])
    return out


def test_path_claim_reads_every_seed():
    out = check(nn_claims.path_follows_valley(stacked(*[fake_landscape()] * 3)), "reproduced")
    assert out[2]["seeds_holding"] == 3 and out[3].startswith("3 of 3 seeds")
    one_fails = stacked(fake_landscape(), fake_landscape(small_travels=True), fake_landscape())
    out = check(nn_claims.path_follows_valley(one_fails), "partly")
    assert out[3].startswith("2 of 3 seeds")


def test_the_decay_claim_is_inconclusive_when_the_interval_holds_both():
    from test_lrd_network import DECAYS as GRID, falling, fake_result

    noisy = falling(slope=2e-6) + 4e-4 * np.random.default_rng(5).standard_normal((3, len(GRID)))
    status, ours, values, reason = nn_claims.test_loss_falls(fake_result(noisy))
    low, high = values["pooled_r_interval"]
    assert low < LATE_HALF_R_ and high > 0, (low, high)
    assert status == "inconclusive" and "pooled r" in reason and len(reason) <= REASON_LENGTH
    check(nn_claims.test_loss_falls(fake_result(falling())), "reproduced")


LATE_HALF_R_ = nn_claims.LATE_HALF_R
