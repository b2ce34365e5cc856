"""The spiral and cycle claims on made-up runs: for each claim, one made-up result that passes and one that fails
(a criterion that every plausible result passes tests nothing)."""

import numpy as np
import pytest

from landscape.scorecard import REASON_LENGTH
from landscape.store import Result
from landscape.topics.spiral import analysis
from landscape.topics.spiral import claims
from landscape.topics.spiral.experiment import FIG4

CYCLE, T, STEPS = FIG4.period + 1, FIG4.period, FIG4.steps
PERIODS = 13  # oscillating periods of the Fig. 4 schedule; the final plain-CE one starts at 13 × 5,001


def logistic(n, x=0.3):
    """n values of the logistic map at r = 4 (chaotic, in [0, 1])."""
    out = np.empty(n)
    for i in range(n):
        x = 4 * x * (1 - x)
        out[i] = x
    return out


def cascade_segment(kind):
    """What the cascade adds to F over τ ∈ [3800, 4600): a growing period-2 orbit (3800–4000), a period-4 orbit
    (4000–4200) and chaos (4200–4600); kind "chaos first" puts the chaos at 3800–4200 and the period-2 orbit after."""
    t = np.arange(200)
    two = 0.0005 * 20 ** (t / 200) * (t % 2)  # ΔF alternates with a growing amplitude
    four = np.tile([0.0, 0.05, 0.03, 0.15], 50)
    chaos = 0.2 * logistic(400)
    if kind == "chaos first":
        return np.concatenate([chaos, two, four])
    return np.concatenate([two, four, chaos])


def fake_fig4(*, cascades=range(8), kind="full", late_bursts=(), minima=None, mid_sharpness=None, cross_at=3500,
              accuracy=None, ntk_drop=0.5, ntk_growth=30.0, final_accuracy=0.99):
    """A made-up 70,000-step Fig. 4 run on the real schedule: F is a cusp per period with its minimum (`minima`[p]) at
    τ = 2,500, plus a cascade in the periods `cascades` and `late_bursts`; λ_max sits at `mid_sharpness`[p] until τ =
    `cross_at`, then climbs through 2 within 200 steps; NTK λ_max grows `ntk_growth`× and loses `ntk_drop` of its
    value over the last 300 steps of each period; `accuracy` is a function of t."""
    minima = np.geomspace(0.12, 0.03, PERIODS) if minima is None else np.asarray(minima)
    mid_sharpness = np.linspace(0.7, 0.3, PERIODS) if mid_sharpness is None else np.asarray(mid_sharpness)
    t = np.arange(STEPS + 1)
    period, tau = np.minimum(t // CYCLE, PERIODS), t % CYCLE
    m = np.append(minima, minima[-1])[period]
    F = m + (1 - m) * np.abs(tau - T / 2) / (T / 2)
    for p in list(cascades) + list(late_bursts):
        F[p * CYCLE + 3800:p * CYCLE + 4600] += cascade_segment(kind)
    steps_h = np.arange(0, STEPS + 1, FIG4.hessian_every)
    ph, th = np.minimum(steps_h // CYCLE, PERIODS - 1), steps_h % CYCLE
    lam = mid_sharpness[ph] + np.clip((th - cross_at) / 200, 0, None) * 2.0
    ntk = 100 * ntk_growth ** (t / STEPS) * np.where(tau > T - 300, 1 - ntk_drop, 1.0)
    acc = (accuracy or paper_staircase)(t)
    arrays = {"objective": F, "accuracy": acc, "cross_entropy": F, "hessian_max_steps": steps_h, "hessian_max": lam,
              "ntk_max_steps": t, "ntk_max": ntk}
    return Result("spiral_dynamical", "fake", {}, arrays, {"final_accuracy": final_accuracy}, {}, typed_config=FIG4)


def paper_staircase(t):
    """The paper's read-off staircase, as a step function of t."""
    edges = [0, 12_000, 22_000, 28_000, 38_000, 55_000, 66_000]
    levels = [1 / 3, 0.5, 0.78, 0.92, 0.95, 0.975, 1.0]
    return np.array(levels)[np.searchsorted(edges, t, side="right") - 1]


def check(out, status):
    assert out[0] == status, out
    assert len(out) == 4 and 0 < len(out[3]) <= REASON_LENGTH and "\n" not in out[3]
    return out


def test_window_period_finds_periods_1_2_4_and_chaos():
    smooth = -1e-4 + 1e-7 * np.arange(64)
    assert analysis.window_period(smooth) == 1
    assert analysis.window_period(0.01 * (-1.0) ** np.arange(64) * 1.02 ** np.arange(64)) == 2  # growing: still 2
    assert analysis.window_period(np.tile([0.05, -0.02, 0.12, -0.15], 16)) == 4
    assert analysis.window_period(np.diff(logistic(65))) == analysis.CHAOS
    assert analysis.window_period(smooth + 5e-6 * (-1.0) ** np.arange(64)) == 1  # below the absolute tolerance


def test_cascade_claim_needs_the_ordered_stages_and_their_end():
    result = fake_fig4()
    stages = analysis.cascade_stages(result["objective"], FIG4.schedule())
    assert [s.ordered for s in stages] == [True] * 8 + [False] * 5
    assert list(stages[0].first) == [1, 2, 4, analysis.CHAOS]
    assert stages[0].first[2] - stages[0].start == pytest.approx(3800, abs=analysis.STAGE_WINDOW)
    out = check(claims.cascade(result), "reproduced")
    assert "8 of 9" in out[3]
    check(claims.cascade(fake_fig4(cascades=())), "not reproduced")  # no burst at all
    check(claims.cascade(fake_fig4(kind="chaos first")), "not reproduced")  # chaos before period 2
    check(claims.cascade(fake_fig4(late_bursts=(10, 11))), "partly")  # bursts that do not vanish after 45k


def test_sharpness_crossing_must_lead_the_onset():
    check(claims.sharpness_crosses(fake_fig4()), "reproduced")
    check(claims.sharpness_crosses(fake_fig4(cross_at=4300)), "not reproduced")  # 2/η crossed long after the onset
    check(claims.sharpness_crosses(fake_fig4(cascades=())), "not testable")


def test_mid_period_sharpness_is_a_trend_over_all_periods():
    out = check(claims.mid_period_sharpness(fake_fig4()), "reproduced")
    assert out[2]["drop"] == pytest.approx(0.4)
    # the old criterion (first 3 vs last 3) passes this hump; the trend over all periods does not
    hump = np.array([0.60, 0.62, 0.64, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.58, 0.57, 0.56])
    assert hump[-3:].mean() < hump[:3].mean()
    check(claims.mid_period_sharpness(fake_fig4(mid_sharpness=hump)), "not reproduced")
    flat = 0.6 + 0.01 * np.sin(np.arange(PERIODS))
    check(claims.mid_period_sharpness(fake_fig4(mid_sharpness=flat)), "not reproduced")
    noisy = 0.7 - 0.015 * np.arange(PERIODS) + 0.25 * np.random.default_rng(3).standard_normal(PERIODS)  # 0 or 0.2
    check(claims.mid_period_sharpness(fake_fig4(mid_sharpness=noisy)), "inconclusive")


def test_accuracy_staircase_against_the_read_off_values():
    check(claims.accuracy_staircase(fake_fig4()), "reproduced")
    lagging = lambda t: paper_staircase(t) - np.where((t > 20_000) & (t < 66_000), 0.15, 0.0)
    out = check(claims.accuracy_staircase(fake_fig4(accuracy=lagging)), "not reproduced")
    assert "2 of 6" in out[3]


def test_objective_minima_fall_to_the_paper_values():
    check(claims.objective_minima_fall(fake_fig4()), "reproduced")
    check(claims.objective_minima_fall(fake_fig4(minima=np.geomspace(0.12, 0.006, PERIODS))), "partly")  # too far
    check(claims.objective_minima_fall(fake_fig4(minima=np.geomspace(0.03, 0.12, PERIODS))), "not reproduced")


def test_ntk_claims():
    check(claims.ntk_grows(fake_fig4()), "reproduced")
    check(claims.ntk_grows(fake_fig4(ntk_growth=3.0)), "not reproduced")
    out = check(claims.ntk_drops_at_boundaries(fake_fig4()), "reproduced")
    assert len(out[2]["drops"]) == PERIODS
    check(claims.ntk_drops_at_boundaries(fake_fig4(ntk_drop=0.0)), "not reproduced")


def fake_ce(final_accuracy, loss):
    """A made-up plain-CE run: accuracy and loss constant over the last half (stuck when the loss is near ln 3)."""
    t = np.arange(STEPS + 1)
    arrays = {"cross_entropy": np.where(t < 1000, 1.1, loss), "accuracy": np.full(t.shape, final_accuracy)}
    return Result("spiral_ce", "fake", {}, arrays, {"final_accuracy": final_accuracy}, {}, typed_config=FIG4)


def fake_table(ntk_ce, glorot_ce=(0.99, 0.99, 0.99), ntk_dyn=(0.99, 0.99, 0.99), nobias=0.37):
    rows = ([("ntk2021", 1.0, a) for a in ntk_ce] + [("ntk2021", 70.0, a) for a in ntk_dyn]
            + [("glorot", 1.0, a) for a in glorot_ce] + [("nobias", a, nobias) for a in (1.0, 1.0, 70.0, 70.0)])
    return {"init": np.array([r[0] for r in rows]), "amplitude": np.array([r[1] for r in rows]),
            "final_accuracy": np.array([r[2] for r in rows])}


def test_ce_fails_and_its_reason_names_the_init():
    out = check(claims.ce_fails(fake_ce(0.53, 1.03), fake_table((0.47, 0.45, 0.49))), "reproduced")
    assert "2021 init" in out[3] and "Glorot" in out[3] and "stuck" in out[3]
    check(claims.ce_fails(fake_ce(0.99, 0.02), fake_table((0.99, 0.98, 0.99))), "not reproduced")


def test_dynamical_trains():
    check(claims.dynamical_trains(fake_fig4(), fake_table((0.5,) * 3)), "reproduced")
    check(claims.dynamical_trains(fake_fig4(final_accuracy=0.6), fake_table((0.5,) * 3, ntk_dyn=(0.6,) * 3)),
          "not reproduced")


def test_init_sensitivity():
    check(claims.init_sensitivity(fake_table((0.47, 0.45, 0.49))), "reproduced")
    check(claims.init_sensitivity(fake_table((0.99,) * 3, glorot_ce=(0.5,) * 3, nobias=0.99)), "not reproduced")


def test_period_table_lists_the_stages():
    table = analysis.period_table(fake_fig4(), FIG4.schedule(), STEPS)
    assert table["stages of ΔF (first τ)"].tolist()[0].startswith("1 (2,501) → 2 (")
    assert table["stages of ΔF (first τ)"].tolist()[0].split(" → ")[-1].startswith("chaos")
    assert table["stages of ΔF (first τ)"].tolist()[-1] == "1 (2,501)"


def fake_cycle(middle_factor):
    """A made-up `cycle` result: 11 snapshots of period 2 whose λ_max and trace are `middle_factor` times smaller,
    and whose width is `middle_factor` times larger, at mid-period than at both ends."""
    from landscape.topics.cycle.experiment import FULL

    steps = FULL.snapshot_steps()
    bump = 1 - (1 - 1 / middle_factor) * np.sin(np.pi * np.linspace(0, 1, len(steps)))  # 1 at the ends
    arrays = {"snapshot_steps": steps, "hessian_max": 3.0 * bump, "trace_exact": 10.0 * bump,
              "width_top": 0.5 / bump, "snapshot_objective": 1.0 * bump}
    return Result("cycle", "fake", {}, arrays, {}, {}, typed_config=FULL)


def test_cycle_valleys_widen_by_a_margin():
    from landscape.topics.cycle.claims import MIN_RATIO, valleys_widen_then_narrow

    out = check(valleys_widen_then_narrow(fake_cycle(3.0)), "reproduced")
    assert "period 2" in out[3] and out[2]["λ_max"]["ratio"] == pytest.approx(3.0)
    check(valleys_widen_then_narrow(fake_cycle(1.05)), "not reproduced")  # wider, but by less than MIN_RATIO
    assert MIN_RATIO > 1.05
