"""The capacity sweep's learning rates: the rule that picks each loss's η on the selection runs (made-up results, each
outcome flipped), and the stored `select` result picking the η the full presets use."""

import numpy as np
import pytest

from landscape.topics.capacity.analysis import lr_scores, select_lrs
from landscape.topics.sweeps.experiment import CAPACITY_LRS, lr_grid_settings

from test_topic_readers import fake_sweep_result

GRID = (0.3, 1.0, 3.0)
SETTINGS = lr_grid_settings(GRID, at=((1.0, 500), (10.0, 500)))  # CE, DCE at each η


def made_up_select(val_at, diverged=()):
    """A selection-only sweep (split 0, 4 runs) of SETTINGS: val_at(family, η) is each run's validation accuracy;
    the (family, η) in `diverged` have one run diverged."""
    def val(k, role, r):
        loss, A, T, lr = SETTINGS[k]
        return val_at("CE" if A == 1 else "DCE", lr) + 0.001 * r
    result = fake_sweep_result(lambda k, role, r: 1.0, val, SETTINGS, splits=())
    result["split_seeds"] = np.array([], dtype=np.int64)
    for k, (loss, A, T, lr) in enumerate(SETTINGS):
        if ("CE" if A == 1 else "DCE", lr) in diverged:
            result["diverged_at"][0, np.flatnonzero(result["member_setting"] == k)[0]] = 500
    return result


def test_each_loss_gets_the_rate_where_it_validates_best():
    best = {"CE": 1.0, "DCE": 3.0}
    picked = select_lrs(made_up_select(lambda f, lr: 0.9 if lr == best[f] else 0.7))
    assert picked == best
    flipped = {"CE": 0.3, "DCE": 1.0}
    assert select_lrs(made_up_select(lambda f, lr: 0.9 if lr == flipped[f] else 0.7)) == flipped


def test_a_rate_where_a_run_diverged_is_out_and_ties_go_to_the_smaller_rate():
    best = lambda f, lr: 0.9 if lr == 3.0 else 0.7
    assert select_lrs(made_up_select(best, diverged={("CE", 3.0)})) == {"CE": 0.3, "DCE": 3.0}
    assert lr_scores(made_up_select(best, diverged={("CE", 3.0)}))["CE"][3.0] is None
    assert select_lrs(made_up_select(lambda f, lr: 0.8)) == {"CE": 0.3, "DCE": 0.3}
    with pytest.raises(ValueError, match="CE: a selection run diverged at every learning rate"):
        select_lrs(made_up_select(best, diverged={("CE", lr) for lr in GRID}))


def test_the_stored_selection_picks_the_rates_the_full_presets_train_with():
    """capacity's and amp_period's full presets train CE and the dynamical loss at the η the stored `select` result
    picks (their evaluation splits are disjoint from its split 0)."""
    from landscape.registry import get_experiment
    from landscape.runner import load

    picked = select_lrs(load("capacity", "select"))
    assert picked == CAPACITY_LRS
    for name in ("capacity", "amp_period"):
        for loss, A, T, lr in get_experiment(name).presets["full"].settings:
            assert lr == picked["CE" if A == 1 else "DCE"], (name, A, T, lr)
