"""Configs of the ensemble experiments: bad input is rejected with the field's name; units run in order and an
interrupted unit resumes."""

from dataclasses import replace
import numpy as np
import pytest
import torch

from landscape.data import SpiralSplitConfig
from landscape.ensemble_runs import stack_groups
from landscape.topics.size_lr.experiment import SizeLRConfig
from landscape.runtime import Checkpoint
from landscape.validation import ConfigError


@pytest.mark.parametrize("kwargs,field", [
    (dict(widths=()), "widths"), (dict(widths=(8, 0)), "widths"), (dict(lrs=(0.1, -1.0)), "lrs"),
    (dict(lrs=(float("inf"),)), "lrs"), (dict(seeds=0), "seeds"), (dict(steps=100, record_every=30), "record_every"),
    (dict(init="he"), "init"), (dict(dtype="float16"), "dtype"),
])
def test_size_lr_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        SizeLRConfig(**kwargs)


@pytest.mark.parametrize("kwargs,field", [(dict(validation_fraction=0.0), "validation_fraction"),
                                          (dict(points_per_class=1), "points_per_class"),
                                          (dict(noise=-0.1), "noise")])
def test_spiral_split_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        SpiralSplitConfig(**kwargs)


class Interrupt(Exception):
    pass


def _counting_unit(unit, *, device, progress, checkpoint):
    """A unit that counts its calls in its checkpoint's folder and fails once where asked (`unit` = (i, fail))."""
    i, fail = unit
    state = checkpoint.load() or {"calls": 0}
    checkpoint.save({"calls": state["calls"] + 1})
    if fail and state["calls"] == 0:
        raise Interrupt
    return {"x": np.full(3, i, dtype=np.float64), "calls": np.array(state["calls"] + 1)}


def test_run_units_runs_in_order_and_an_interrupted_unit_resumes_from_its_checkpoint(tmp_path):
    from landscape.executor import run_units
    from landscape.registry import Units

    plan = Units(((0, False), (1, False), (2, True)), _counting_unit, stack_groups)
    checkpoint = Checkpoint(tmp_path / "sweep.pt", every_s=0.0)
    with pytest.raises(Interrupt):
        run_units(plan, device="cpu", checkpoint=checkpoint)
    assert checkpoint.sub("unit2").load() == {"calls": 1}  # the unit in progress keeps its state
    assert checkpoint.sub("unit0").load() is None  # a finished unit's state is cleared
    out = run_units(plan, device="cpu", checkpoint=checkpoint)
    assert out["x"].tolist() == [[0] * 3, [1] * 3, [2] * 3] and out["calls"].tolist() == [1, 1, 2]
    assert not list(tmp_path.iterdir())


def test_stack_groups_pads_ragged_arrays_with_nan():
    out = stack_groups([{"a": np.ones((2, 3))}, {"a": np.ones((2, 1))}])
    assert out["a"].shape == (2, 2, 3) and np.isnan(out["a"][1, :, 1:]).all()


from landscape.topics.sweeps.experiment import SweepConfig  # noqa: E402
from landscape.settings import setting_label  # noqa: E402


@pytest.mark.parametrize("kwargs,field", [
    (dict(settings=()), "settings"), (dict(settings=(("dce", 1.0, 10),)), "settings"),
    (dict(settings=(("hinge", 1.0, 10, 1.0),)), "loss"), (dict(settings=(("dce", 0.5, 10, 1.0),)), "amplitude"),
    (dict(settings=(("dce", 2.0, 0, 1.0),)), "period"), (dict(settings=(("dce", 2.0, 10, 0.0),)), "lr"),
    (dict(widths=(4, -1)), "widths"), (dict(seeds=0), "seeds"),
    (dict(steps=100, final_plain_steps=10, record_every=7), "record_every"), (dict(split_seeds=(), selection_split_seeds=()), "split_seeds"),
    (dict(split_seeds=(1, 1)), "split_seeds"),
    (dict(split_seeds=(0, 1), selection_split_seeds=(0,)), "selection_split_seeds"),
    (dict(steps=800, final_plain_steps=800), "final_plain_steps"),
])
def test_sweep_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        SweepConfig(**kwargs)


def test_a_sweep_of_selection_runs_only_is_valid_and_plans_only_selection_runs():
    config = SweepConfig(split_seeds=(), selection_split_seeds=(0,), seeds=2)
    assert [role for _, _, role in config.runs()] == ["selection", "selection"]


def test_setting_labels():
    assert setting_label(("dce", 1.0, 500, 1.0)) == "CE η=1"
    assert setting_label(("dce", 70.0, 500, 1.0)) == "DCE A=70 T=500 η=1"
    assert setting_label(("dmse1", 1.0, 500, 0.5)) == "MSE η=0.5"
    assert setting_label(("dmse2", 5.0, 100, 0.5)) == "DMSE2 A=5 T=100 η=0.5"


def test_sweep_members_share_seeds_across_settings_and_match_single_runs():
    """Every setting of a width starts from the same weights for the same seed (paired comparisons)."""
    from landscape.topics.sweeps.experiment import run_sweep
    from landscape.ensemble import EnsembleMLP, train_ensemble

    config = SweepConfig(widths=(6,), settings=(("dce", 1.0, 10, 1.0), ("dce", 5.0, 10, 0.5)), seeds=2, steps=40,
                         final_plain_steps=10, record_every=20, dtype="float64",
                         data=SpiralSplitConfig(points_per_class=30))
    arrays, _ = run_sweep(config, device="cpu", progress=False)
    run = 5  # initial seed 5 on split 2, an evaluation run
    assert config.runs()[run] == (5, 2, "evaluation")
    train, val = replace(config.data, split_seed=2).make(torch.float64, "cpu")
    log = train_ensemble(EnsembleMLP.init(2, 6, 3, [5]), train, schedules=config.schedule(config.settings[1]),
                         lr=0.5, steps=40, record_every=20, eval_sets={"validation": val})
    member = [i for i, (k, r) in enumerate(config.members()) if k == 1 and r == run][0]
    assert arrays["member_seed"][member] == 5 and arrays["member_split"][member] == 2
    np.testing.assert_allclose(arrays["train_loss"][0, :, member], log.static_loss[:, 0], rtol=1e-12)
    np.testing.assert_allclose(arrays["validation_accuracy"][0, :, member], log.evals["validation"]["accuracy"][:, 0])
    # step 0: same seed, same weights → same loss for both settings
    seeds = arrays["member_seed"]
    for s in range(8):
        a, b = np.nonzero(seeds == s)[0]
        assert arrays["train_loss"][0, 0, a] == arrays["train_loss"][0, 0, b]


def test_t_interval_and_paired_differences():
    import pandas as pd
    from landscape.topics.sweeps.analysis import paired_difference, t_interval

    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo == pytest.approx(2.0 - 4.302653 / np.sqrt(3), rel=1e-5) and hi > 2
    frame = pd.DataFrame({"width": [8] * 4, "setting": [0, 0, 1, 1], "seed": [0, 1, 1, 0],
                          "validation_accuracy": [0.5, 0.6, 0.9, 0.7]})
    assert paired_difference(frame, 8, 1, 0).tolist() == pytest.approx([0.3, 0.2])


def test_amp_period_grid_puts_plain_ce_once():
    from landscape.topics.sweeps.experiment import amp_period_settings

    settings = amp_period_settings((1.0, 3.0, 10.0), (100, 400))
    assert settings[0] == ("dce", 1.0, 100, 1.0)
    assert settings[1:] == (("dce", 3.0, 100, 1.0), ("dce", 3.0, 400, 1.0), ("dce", 10.0, 100, 1.0),
                            ("dce", 10.0, 400, 1.0))


def test_runs_keep_selection_and_evaluation_apart():
    from landscape.ensemble_runs import plan_runs

    runs = plan_runs(3, (1, 2, 3), (0,))
    assert [r[0] for r in runs] == list(range(12))  # one initial seed per run
    assert [r[1] for r in runs] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert [r[2] for r in runs] == ["selection"] * 3 + ["evaluation"] * 9
    assert plan_runs(2, (5,)) == ((0, 5, "evaluation"), (1, 5, "evaluation"))


def test_mse_family_settings():
    from landscape.topics.sweeps.experiment import mse_family_settings

    s = mse_family_settings(10.0, 500, (0.1,))
    assert s == (("dmse1", 1.0, 500, 0.1), ("dmse1", 10.0, 500, 0.1), ("dmse2", 10.0, 500, 0.1))


def test_valley_width_along_a_parabola():
    from landscape.topics.cycle.experiment import width_along

    alphas = np.linspace(-1, 1, 201)
    # F = λ α² / 2: the rise 0.05 is reached at |α| = sqrt(0.1 / λ)
    for lam in (0.5, 2.0, 8.0):
        assert width_along(alphas, 0.5 * lam * alphas ** 2, 0.05) == pytest.approx(2 * np.sqrt(0.1 / lam), rel=1e-3)
    assert width_along(alphas, 0.001 * alphas ** 2, 0.05) == pytest.approx(2.0)  # capped by the grid


def test_cycle_config_rejects_a_period_past_the_run_or_the_plain_ce_one():
    from landscape.topics.cycle.experiment import CycleConfig

    with pytest.raises(ConfigError, match="period_index"):
        CycleConfig(period_index=20)
    with pytest.raises(ConfigError, match="period_index"):
        CycleConfig(period_index=13)  # the final plain-CE period of Fig. 4
    assert CycleConfig().snapshot_steps().tolist()[:3] == [5001, 5501, 6001]
