"""The book's statistics on made-up results: the thresholds every claim reads, fixed before the data."""

import numpy as np
import pytest
from scipy import stats

from landscape import statistics as st


def test_thresholds_are_the_ones_the_book_states():
    assert (st.CONFIDENCE, st.OVERPARAMETERIZED, st.CLEARLY_UNDERPARAMETERIZED) == (0.95, 0.99, 0.8)
    assert (st.READOUT_FRACTION, st.CONVERGENCE_WINDOW, st.CONVERGENCE_RTOL, st.CONVERGENCE_ATOL) == (
        0.05, 0.10, 0.05, 1e-3)
    assert st.CONVERGED_SHARE == 0.9 and st.MIN_SPLITS == 3


def test_bonferroni_widens_the_interval_for_a_best_of_k():
    values = [0.01, 0.03, -0.005, 0.02, 0.015, 0.0, 0.025, 0.01]
    one = st.t_interval(values)
    three = st.t_interval(values, comparisons=3)
    assert one[0] == three[0] and three[1] < one[1] and three[2] > one[2]
    v = np.asarray(values)
    half = stats.t.ppf(1 - 0.05 / 3 / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    assert three[1] == pytest.approx(v.mean() - half, rel=1e-12)
    assert st.bonferroni(4) == pytest.approx(0.9875)
    with pytest.raises(ValueError, match="comparisons"):
        st.bonferroni(0)


def test_an_interval_that_clears_zero_alone_may_not_after_the_correction():
    values = [0.02, 0.0, 0.03, 0.01, 0.025, -0.004, 0.018, 0.012, 0.0, 0.02]
    assert st.t_interval(values)[1] > 0 and st.t_interval(values, comparisons=16)[1] < 0


def test_t_interval_drops_nan_and_handles_tiny_samples():
    assert st.t_interval([np.nan, 2.0]) == (2.0, 2.0, 2.0)
    assert all(np.isnan(st.t_interval([np.nan])))


def test_t_interval_along_an_axis_is_the_interval_of_each_column():
    """Vectorized over the other axes: each position's interval over its finite values, as the 1-D call gives it
    (a column without a finite value is NaN, one with a single value has zero width)."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 4))
    values[[0, 3], 1] = np.nan
    values[:, 2] = np.nan
    values[1:, 3] = np.nan
    mean, lower, upper = st.t_interval(values, axis=0, comparisons=2)
    assert mean.shape == lower.shape == upper.shape == (4,)
    for j in range(4):
        expected = st.t_interval(values[:, j], comparisons=2)
        np.testing.assert_allclose([mean[j], lower[j], upper[j]], expected, rtol=1e-12, equal_nan=True)
    assert np.isnan([mean[2], lower[2], upper[2]]).all() and lower[3] == mean[3] == upper[3] == values[0, 3]
    assert np.array_equal(st.t_interval(values.T, axis=-1, comparisons=2)[1], lower, equal_nan=True)


def test_one_definition_of_the_regimes():
    assert st.regime(0.99) == "over" and st.regime(0.9899) == "under" and st.regime(0.5) == "under"


def test_readout_averages_the_last_five_percent_of_steps():
    steps = np.arange(0, 2001, 50)  # 41 records; the last 5 % of 2,000 steps: 1,900, 1,950, 2,000
    curve = np.zeros(41)
    curve[-3:] = [1.0, 0.0, 0.5]  # a spike in the window counts a third, not all or nothing
    assert st.readout(curve, steps) == pytest.approx(0.5)
    assert st.readout_mask(np.array([0, 10]))[-1]  # sparse records: at least the last one


def test_readout_along_an_axis():
    steps = np.arange(0, 101, 10)
    curves = np.stack([np.linspace(1, 0, 11), np.full(11, 2.0)], axis=1)  # (records, runs)
    np.testing.assert_allclose(st.readout(curves, steps, axis=0), [0.0, 2.0])


def test_a_loss_still_falling_in_the_last_tenth_has_not_converged():
    steps = np.arange(0, 10_001, 100)
    falling = np.linspace(1.0, 0.5, len(steps))  # moves by 0.05 over the last 10 %: more than 5 % + 1e-3
    flat = np.where(steps < 5000, 1.0 - steps / 10_000, 0.5)
    near_zero = 1e-4 * np.linspace(2, 1, len(steps))  # halves, but by less than the absolute tolerance
    spiking = flat.copy()
    spiking[steps == 9000] = 3.0  # the loss jumps inside the window: a spike is not a minimum
    curves = np.stack([falling, flat, near_zero, spiking], axis=1)
    np.testing.assert_array_equal(st.still_moving(curves, steps), [True, False, False, True])


def test_a_diverged_run_is_never_converged():
    steps = np.arange(0, 101, 10)
    curve = np.ones(11)
    curve[-1] = np.nan
    assert st.still_moving(curve, steps)


def test_every_untested_claim_names_its_paper_and_why():
    from landscape.scorecard import PAPERS, UNTESTED, untested_markdown

    assert len(UNTESTED) >= 3
    for u in UNTESTED:
        assert u.paper in PAPERS and len(u.reason) > 20 and u.statement and u.source
    table = untested_markdown()
    assert table.count("\n") == len(UNTESTED) + 1
    assert untested_markdown("followup2024").count("\n") == 2


# ---------------------------------------------------------------------------------------- run states, made up
STEPS = np.arange(0, 20_001, 100)
T = STEPS + 100.0


def _states(loss, acc, compared=None, samples=300, plateau=np.log(3)):
    return st.run_states(np.asarray(loss)[:, None], np.asarray(acc)[:, None], STEPS, plateau_loss=plateau,
                         num_classes=3, compared=None if compared is None else np.asarray(compared)[:, None],
                         compared_samples=samples)[0]


def test_a_cross_entropy_loss_falling_like_one_over_t_on_a_fitted_set_is_settled():
    loss = 50.0 / T  # falls 7.7 % over the last tenth, for ever: the old 5 % rule called it "still moving"
    acc = np.minimum(1.0, 0.5 + STEPS / 4000)
    assert _states(loss, acc) == st.SETTLED
    assert _states(loss, acc, compared=np.full(len(STEPS), 0.9)) == st.SETTLED  # validation accuracy flat


def test_the_ln3_plateau_is_stuck_not_a_minimum():
    loss = np.log(3) - 0.1 + 1e-3 * np.sin(STEPS / 300)  # flat at ≈ 1.0, training accuracy near chance
    acc = np.full(len(STEPS), 0.47)
    assert _states(loss, acc) == st.STUCK
    assert _states(loss, acc, compared=np.full(len(STEPS), 0.40)) == st.STUCK


def test_an_mse_loss_at_600_at_chance_has_diverged():
    loss = np.linspace(0.5, 600.0, len(STEPS))
    acc = np.full(len(STEPS), 0.33)
    assert _states(loss, acc, plateau=2 / 3) == st.DIVERGED
    nan = 0.3 * np.ones(len(STEPS))
    nan[-3:] = np.nan
    assert _states(nan, np.full(len(STEPS), 0.9)) == st.DIVERGED


def test_a_validation_accuracy_still_rising_is_still_learning():
    loss = 50.0 / T
    acc = np.ones(len(STEPS))
    rising = 0.70 + 0.25 * STEPS / STEPS[-1]  # + 0.0125 over the window's halves: more than one binomial SE
    assert _states(loss, acc, compared=rising, samples=3000) == st.LEARNING
    assert _states(loss, acc, compared=rising, samples=30) == st.SETTLED  # within the noise of 30 points


def test_an_unfitted_loss_still_falling_is_still_learning_and_a_low_flat_one_settled():
    acc = np.full(len(STEPS), 0.8)
    assert _states(1.0 - 0.9 * STEPS / STEPS[-1], acc) == st.LEARNING
    assert _states(np.full(len(STEPS), 0.3), acc) == st.SETTLED  # an underfitting minimum, far below ln 3
    assert st.state_counts([st.SETTLED, st.STUCK, st.SETTLED]) == "2 settled, 1 stuck"


def test_effect_status_decides_only_when_the_data_could():
    assert st.effect_status(0.002, 0.03, 0.01) == "reproduced"
    assert st.effect_status(-0.02, 0.005, 0.01) == "not reproduced"  # excludes the smallest effect that counts
    assert st.effect_status(-0.008, 0.012, 0.01) == "inconclusive"  # holds both 0 and 0.01
    assert st.effect_status(np.nan, np.nan, 0.01) == "inconclusive"
    assert st.runs_to_decide(12, -0.008, 0.012, 0.01) == 48  # half-width 0.01 must fall under 0.005: 4× the runs


def test_a_baseline_far_under_ce_is_invalid():
    assert st.baseline_valid(0.85, 0.89) and not st.baseline_valid(0.49, 0.89)


def test_a_claim_of_two_parts():
    from landscape.scorecard import conjunction

    assert conjunction(["reproduced", "reproduced"]) == "reproduced"
    assert conjunction(["reproduced", "not reproduced"]) == "partly"
    assert conjunction(["not reproduced", "inconclusive"]) == "not reproduced"
    assert conjunction(["inconclusive", "not testable"]) == "inconclusive"
