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
