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
