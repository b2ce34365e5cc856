"""The small readers the chapters call instead of computing in the notebook, on made-up results."""

import numpy as np
import pandas as pd
import pytest

from landscape.topics.followup_mse.analysis import family_frame
from landscape.topics.size_lr.analysis import final_table, learning_rates, seed_mean
from landscape.topics.spiral.analysis import init_table_accuracies, init_table_summary


def test_init_table_readers():
    table = {"init": np.array(["glorot", "glorot", "ntk2021", "ntk2021"]), "amplitude": np.array([1.0, 70.0, 1.0, 1.0]),
             "final_accuracy": np.array([0.9, 0.99, 0.5, 0.4])}
    assert init_table_accuracies(table, "ntk2021", 1.0).tolist() == [0.5, 0.4]
    summary = init_table_summary(table)
    assert summary.to_dict("records") == [
        {"init": "glorot", "loss": "plain CE", "mean": 0.9, "min": 0.9, "max": 0.9, "count": 1},
        {"init": "glorot", "loss": "dynamical A = 70", "mean": 0.99, "min": 0.99, "max": 0.99, "count": 1},
        {"init": "ntk2021", "loss": "plain CE", "mean": 0.45, "min": 0.4, "max": 0.5, "count": 2}]


def fake_size_lr():
    # 2 widths × 3 records × 4 members (η = 0.1, 0.1, 1, 1); member 3 diverged (NaN at the end)
    curve = np.arange(24, dtype=float).reshape(2, 3, 4)
    curve[:, -1, 3] = np.nan
    return {"widths": np.array([8, 64]), "member_lr": np.array([0.1, 0.1, 1.0, 1.0]), "train_loss": curve,
            "train_accuracy": curve / 100, "validation_accuracy": curve / 100, "hessian_max": curve + 1,
            "diverged_at": np.array([[-1, -1, -1, 5], [-1, -1, -1, 5]])}


def test_size_lr_readers():
    result = fake_size_lr()
    assert learning_rates(result) == [0.1, 1.0]
    assert seed_mean(result, "train_loss", 64, 0.1) == (20 + 21) / 2
    assert seed_mean(result, "train_loss", 8, 1.0) == 10  # the diverged member's NaN is left out
    assert seed_mean(result, "train_loss", 8, 0.1, record=0) == 0.5
    table = final_table(result)
    assert table[["width", "η", "diverged runs"]].values.tolist() == [[8, 0.1, 0], [8, 1.0, 1], [64, 0.1, 0],
                                                                      [64, 1.0, 1]]
    assert table["λ_max / (2/η)"].tolist() == [round(9.5 * 0.05, 2), round(11 * 0.5, 2), round(21.5 * 0.05, 2),
                                              round(23 * 0.5, 2)]


@pytest.mark.smoke
def test_family_frame_labels_every_run(tmp_store):
    from landscape.runner import load_or_run

    mse = load_or_run("followup_mse", "smoke", store=tmp_store, device="cpu", progress=False)
    ce = load_or_run("capacity", "smoke", store=tmp_store, device="cpu", progress=False)
    frame = family_frame(mse, ce)
    assert set(frame.width) <= set(mse["widths"].tolist())
    assert set(frame[frame.run == "followup_mse"].family) <= {"MSE", "DMSE1", "DMSE2"}
    assert set(frame[frame.run == "capacity"].family) <= {"CE", "DCE"}
    evaluation = (mse["member_role"] == "evaluation").sum()
    assert (frame.run == "followup_mse").sum() == evaluation * len(mse["widths"])  # selection runs are left out


def fake_converging_size_lr(stuck_cell=None, final=(0.3, 0.1)):
    """2 widths × 4 members (η = 0.1, 0.1, 1, 1), settling to `final` training loss per width with the set fitted;
    `stuck_cell` (width index, members): flat at 1.0 with accuracy 0.5 (the ln 3 plateau)."""
    steps = np.arange(0, 2001, 100)
    settle = np.clip(1 - steps / 1000, 0, None)[None, :, None]
    loss = np.array(final)[:, None, None] + settle * np.ones((2, 1, 4))
    acc = np.ones_like(loss)
    if stuck_cell is not None:
        i, members = stuck_cell
        loss[i][:, members] = 1.0
        acc[i][:, members] = 0.5
    lam = np.broadcast_to(np.array([5.0, 5.0, 1.5, 1.5]), (2, 21, 4)).copy()
    return {"widths": np.array([8, 64]), "member_lr": np.array([0.1, 0.1, 1.0, 1.0]), "steps": steps,
            "train_loss": loss, "train_accuracy": acc, "hessian_max": lam, "hessian_max_steps": steps,
            "diverged_at": np.full((2, 4), -1)}


def test_size_lr_claims_read_only_settled_cells():
    from landscape.topics.size_lr.analysis import settled_counts, settled_values
    from landscape.topics.size_lr.claims import lr_flattens, size_deepens

    result = fake_converging_size_lr()
    assert settled_counts(result).tolist() == [[2, 2], [2, 2]]
    assert settled_values(result, "train_loss")[1].tolist() == [[0.3, 0.3], [0.1, 0.1]]
    with_min = __import__("landscape.topics.size_lr.claims", fromlist=["x"])
    original = with_min.MIN_SETTLED_RUNS
    try:
        with_min.MIN_SETTLED_RUNS = 2
        assert size_deepens(result)[0] == "reproduced" and lr_flattens(result)[0] == "reproduced"
        stuck = fake_converging_size_lr(stuck_cell=(1, [2, 3]))  # the wide net at η = 1 sits on the ln 3 plateau
        status, ours, values, reason = size_deepens(stuck)
        assert status == "partly" and "w64 η = 1 (2 stuck)" in ours and "w64 η=1" in reason
        assert lr_flattens(stuck)[0] == "partly"
        shallower = fake_converging_size_lr(final=(0.1, 0.3))
        assert size_deepens(shallower)[0] == "not reproduced"
    finally:
        with_min.MIN_SETTLED_RUNS = original
    assert size_deepens(result)[0] == "inconclusive"  # 2 settled runs per cell: too few to read a minimum


def fake_sweep_frame():
    """2 widths × 2 settings (0: CE, 1: DCE) × 3 seeds; DCE adds 0.1 to every accuracy at width 8 and 0 at 64."""
    rows = []
    for w, gain in ((8, 0.1), (64, 0.0)):
        for k in (0, 1):
            for seed, base in enumerate((0.5, 0.6, 0.7)):
                rows.append({"width": w, "setting": k, "seed": seed, "train_accuracy": base + k * gain,
                             "validation_accuracy": base - 0.1 + k * gain})
    return pd.DataFrame(rows), [("dce", 1.0, 500, 1.0), ("dce", 10.0, 500, 1.0)]


def test_sweep_tables_and_numbers_on_a_made_up_frame():
    from landscape.topics.sweeps.analysis import accuracy_table, capacity_numbers, gain_table, paired_numbers

    frame, settings = fake_sweep_frame()
    gains = gain_table(frame, settings, reference=0)
    assert gains["Δ train acc. [95% CI]"].tolist() == ["+0.100 [+0.100, +0.100]", "+0.000 [+0.000, +0.000]"]
    table = accuracy_table(frame, settings, [0, 1])
    assert table["DCE A=10 T=500 η=1: train"].tolist() == ["0.70 [0.60, 0.80]", "0.60 [0.50, 0.70]"]
    plain = accuracy_table(frame, settings, [0, 1], width_name="channels", spread=False, gain_of=1, reference=0)
    assert plain["CE: train"].tolist() == [0.6, 0.6] and plain.columns[0] == "channels"
    numbers = paired_numbers(frame, 1, 0)
    assert np.isclose(numbers["gain_val_c8"], 0.1) and np.isclose(numbers["dyn_train_c64"], 0.6)
    cap = capacity_numbers(frame, settings, 0, [1])
    assert cap["w_gain"] == 8 and np.isclose(cap["gain_max"], 0.1) and cap["ce_fits_from"] == 0


def test_generalization_claims_need_three_splits():
    from landscape.topics.sweeps.analysis import data_splits, splits_note

    assert data_splits({}) == 1 and "needs ≥ 3 splits" in splits_note({})
    assert data_splits({"split_seeds": np.arange(3)}) == 3 and splits_note({"split_seeds": np.arange(3)}) == ""


def test_period_table_on_a_made_up_run():
    from landscape.losses import GammaSchedule
    from landscape.topics.spiral.analysis import period_table

    schedule = GammaSchedule(3, 70.0, 100)
    steps = 3 * schedule.cycle
    t = np.arange(steps + 1)
    objective = np.ones(steps + 1)
    onset = schedule.cycle + 60  # period 2, second half: a growing period-2 oscillation
    objective[onset:onset + 40] += 1e-3 * (-1.0) ** np.arange(40) * np.geomspace(1, 1e3, 40)
    result = {"objective": objective, "accuracy": t / steps, "hessian_max_steps": t[::5],
              "hessian_max": 1.0 + (t[::5] % schedule.cycle) / 100}
    table = period_table(result, schedule, steps)
    assert table["period"].tolist() == [1, 2, 3]
    assert table["cascade onset t"].tolist()[0] == "none" and table["cascade onset t"].tolist()[2] == "none"
    assert table["onset τ"].tolist()[1] == f"{onset - 1 - schedule.cycle:,}"  # ΔF_{t} = F_{t+1} − F_t flips from t = onset − 1
    assert "|ΔF| growth in 200 steps" in table.columns
    assert table["train acc. at period end"].tolist()[-1] == 1.0


def test_markdown_table_escapes_pipes_in_headers_and_cells():
    from landscape.display import markdown_table

    text = markdown_table(pd.DataFrame({"|ΔF| growth": ["3×", "a|b"], "n": [1, 2]}))
    header, rule, *rows = text.splitlines()
    assert "\\|ΔF\\| growth" in header and "a\\|b" in rows[1]
    # every line splits into the same number of cells on unescaped pipes
    cells = [len([c for c in __import__("re").split(r"(?<!\\)\|", line)]) for line in text.splitlines()]
    assert len(set(cells)) == 1


def test_rerun_box_names_commands_times_and_the_bigger_run():
    from types import SimpleNamespace

    from landscape.display import rerun_box

    a = SimpleNamespace(experiment="spiral_ce", provenance={"preset": "full", "wall_time_s": 87.2, "device": "cpu",
                                                              "device_name": "cpu"})
    b = SimpleNamespace(experiment="capacity", provenance={"preset": "full", "wall_time_s": 553.0, "device": "cpu",
                                                             "device_name": "cpu"})
    text = rerun_box(a, b, bigger="more seeds")._repr_markdown_()
    assert text.startswith(":::{admonition} Rerun this chapter") and text.endswith(":::")
    assert "landscape run spiral_ce --preset full --force" in text and "landscape run capacity" in text
    assert "87 s on cpu" in text and "10.7 min in all" in text and "not measured" in text and "more seeds" in text
    assert "20 s on a GPU" in rerun_box(a, bigger="x", gpu_seconds={"spiral_ce": 20})._repr_markdown_()
    assert repr(rerun_box(a, bigger="x")) == "Rerun this chapter: spiral_ce"
    assert "`spiral_ce` 87 s" in text  # one preset per experiment: named by the experiment alone
    select = SimpleNamespace(experiment="capacity", provenance={**b.provenance, "preset": "select"})
    both = rerun_box(select, b, bigger="x")._repr_markdown_()  # two presets of one experiment: each named
    assert "`capacity select` 553 s" in both and "`capacity full` 553 s" in both


def fake_sweep_result(final_train, final_val, settings, splits=(1, 2, 3), seeds=4, learning=(), stuck=(),
                      width=512):
    """A stored sweep, made up: one width, `settings`, one selection split (0) and `splits` for evaluation, `seeds`
    runs each. final_train/final_val(setting, role, run) give each run's final accuracies, flat over the run, except
    for the settings in `learning`, whose accuracies still rise by 0.06 over the last tenth (still learning); the
    settings in `stuck` have their training loss flat at 1.0 (near ln 3), the others at 0.1."""
    from landscape.ensemble_runs import plan_runs, run_arrays

    runs = plan_runs(seeds, splits, (0,))
    members = [(k, r) for k in range(len(settings)) for r in range(len(runs))]
    steps = np.arange(0, 1001, 100)
    ramp = 0.6 * (1 - steps / steps[-1])
    shape = (1, len(steps), len(members))
    train, val, loss = np.zeros(shape), np.zeros(shape), np.ones(shape) * 0.1
    for m, (k, r) in enumerate(members):
        train[0, :, m] = final_train(k, runs[r][2], r) - (ramp if k in learning else 0)
        val[0, :, m] = final_val(k, runs[r][2], r) - (ramp if k in learning else 0)
        if k in stuck:
            loss[0, :, m] = 1.0
    return {"widths": np.array([width]), "steps": steps, "train_accuracy": train, "validation_accuracy": val,
            "train_loss": loss, "validation_loss": loss, "diverged_at": np.full((1, len(members)), -1),
            "member_setting": np.array([k for k, _ in members]), **run_arrays([runs[r] for _, r in members]),
            "split_seeds": np.array(splits), "selection_split_seeds": np.array([0]),
            "setting_loss": np.array([s[0] for s in settings]), "setting_amplitude": np.array([s[1] for s in settings]),
            "setting_period": np.array([s[2] for s in settings]), "setting_lr": np.array([s[3] for s in settings])}


def stack_widths(*results):
    """Made-up sweeps of one width each, as one sweep over their widths (same settings and runs)."""
    out = dict(results[0])
    for name in ("train_accuracy", "validation_accuracy", "train_loss", "validation_loss", "diverged_at"):
        out[name] = np.concatenate([r[name] for r in results])
    out["widths"] = np.concatenate([r["widths"] for r in results])
    return out


CAPACITY_SETTINGS = [("dce", 1.0, 500, 1.0), ("dce", 10.0, 500, 1.0), ("dce", 70.0, 500, 1.0)]


def _generalizes(selection_best, evaluation_best, **kwargs):
    """CE fits (train 1.0, validation 0.80 ± run noise); on selection runs setting `selection_best` validates at
    0.90 and the other at 0.70; on evaluation runs `evaluation_best` validates at CE + 0.05, the other at CE − 0.05."""
    noise = lambda r: 0.01 * (r % 3)
    def val(k, role, r):
        if k == 0:
            return 0.80 + noise(r)
        if role == "selection":
            return 0.90 if k == selection_best else 0.70
        return 0.80 + noise(r) + (0.05 if k == evaluation_best else -0.05) + 0.001 * (r % 2)
    return fake_sweep_result(lambda k, role, r: 1.0, val, CAPACITY_SETTINGS, **kwargs)


def test_the_generalization_claim_reads_the_setting_picked_on_the_selection_runs():
    from landscape.topics.capacity.claims import overparam_generalizes_better

    status, ours, values, reason = overparam_generalizes_better(_generalizes(1, 1))
    assert status == "reproduced" and values["picked"] == "DCE A=10 T=500 η=1" and values["difference"] > 0.04
    assert "settled pairs" in reason and len(reason) <= 160
    # the pick is made on the selection runs: a setting that wins there but loses on the evaluation runs loses
    status, _, values, _ = overparam_generalizes_better(_generalizes(1, 2))
    assert status == "not reproduced" and values["picked"] == "DCE A=10 T=500 η=1" and values["difference"] < 0
    # fewer than 3 evaluation splits: partly at best
    assert overparam_generalizes_better(_generalizes(1, 1, splits=(1, 2)))[0] == "partly"
    # runs still learning are not minima: too few settled pairs
    status, _, values, reason = overparam_generalizes_better(_generalizes(1, 1, learning=(1,)))
    assert status == "inconclusive" and values["pairs"] == 0 and "pairs settled" in reason


def test_the_generalization_claim_is_inconclusive_when_the_interval_holds_zero_and_the_smallest_gain():
    from landscape.topics.capacity.claims import overparam_generalizes_better

    def val(k, role, r):  # a gain of +0.004 ± 0.02 from run to run: the interval holds 0 and +0.01
        if role == "selection":
            return 0.9 if k == 1 else 0.7
        return 0.8 + (0.004 + 0.02 * (-1) ** r if k == 1 else 0.0)
    result = fake_sweep_result(lambda k, role, r: 1.0, val, CAPACITY_SETTINGS)
    status, _, values, reason = overparam_generalizes_better(result)
    assert status == "inconclusive" and values["ci"][0] < 0 < 0.01 < values["ci"][1]
    assert "pairs would decide" in reason


def test_the_small_network_claim_counts_the_rescued_share_of_ces_failures():
    from landscape.topics.capacity.claims import small_nets_rescued

    def train(k, role, r):  # CE fails everywhere; setting 2 trains on the selection runs, setting 1 on evaluation
        if k == 0:
            return 0.5
        return (0.99 if k == 2 else 0.6) if role == "selection" else (0.99 if k == 1 else 0.6 + 0.01 * (r % 2))
    result = fake_sweep_result(train, lambda k, role, r: 0.5, CAPACITY_SETTINGS, stuck=(0,))
    status, ours, values, reason = small_nets_rescued(result)
    assert status == "partly" and values["rescued_widths"] == []  # setting 2, picked, only gains 0.1: not "fits"
    assert "0 of 12 CE failures rescued" in reason
    result = fake_sweep_result(lambda k, role, r: 0.5 if k == 0 else 0.99, lambda k, role, r: 0.5,
                               CAPACITY_SETTINGS, stuck=(0,))
    status, _, values, reason = small_nets_rescued(result)
    assert status == "reproduced" and "12 of 12 CE failures rescued" in reason
    assert values["widths"][512]["lower_bound"] > 0.5
    # CE runs still learning have not failed yet: nothing to rescue
    learning = fake_sweep_result(lambda k, role, r: 0.5 if k == 0 else 0.99, lambda k, role, r: 0.5,
                                 CAPACITY_SETTINGS, learning=(0,))
    assert small_nets_rescued(learning)[0] == "not testable"


def test_the_dce_gain_must_be_largest_for_small_networks():
    from landscape.topics.capacity.claims import dce_gain_largest_small

    def sweep(width, gain, ce_train):
        val = lambda k, role, r: 0.7 + (gain + 0.005 * (r % 3) if k == 1 else 0.0) if role == "evaluation" else \
            (0.8 if k == 1 else 0.6)
        return fake_sweep_result(lambda k, role, r: ce_train if k == 0 else 1.0, val, CAPACITY_SETTINGS, width=width)
    small_wins = stack_widths(sweep(32, 0.2, 0.7), sweep(512, 0.0, 1.0))
    status, _, values, reason = dce_gain_largest_small(small_wins)
    assert status == "reproduced" and values["small"] == 32 and "width 32" in reason
    large_wins = stack_widths(sweep(32, 0.0, 0.7), sweep(512, 0.2, 1.0))
    assert dce_gain_largest_small(large_wins)[0] == "not reproduced"


AMP_SETTINGS = [("dce", 1.0, 100, 1.0), ("dce", 10.0, 100, 1.0), ("dce", 10.0, 400, 1.0), ("dce", 30.0, 100, 1.0)]


def _amp_map(train_gain, val_gain, learning=()):
    under = fake_sweep_result(lambda k, role, r: 0.6 + (train_gain + 0.01 * (r % 3) if k else 0.0),
                              lambda k, role, r: 0.5, AMP_SETTINGS, width=64)
    over = fake_sweep_result(lambda k, role, r: 1.0,
                             lambda k, role, r: 0.85 + (val_gain + 0.005 * (r % 3) if k else 0.0), AMP_SETTINGS,
                             width=256, learning=learning)
    return stack_widths(under, over)


def test_the_amplitude_period_map_needs_both_halves():
    from landscape.topics.amp_period.claims import amp_period_map

    status, _, values, reason = amp_period_map(_amp_map(0.2, 0.05))
    assert status == "reproduced" and values["halves"] == {"under": "reproduced", "over": "reproduced"}
    assert len(reason) <= 160
    assert amp_period_map(_amp_map(0.2, -0.05))[0] == "partly"
    assert amp_period_map(_amp_map(-0.2, -0.05))[0] == "not reproduced"
    status, _, values, _ = amp_period_map(_amp_map(-0.2, 0.05, learning=(1, 2, 3)))
    assert values["halves"]["over"] == "inconclusive" and status == "not reproduced"


MSE_SETTINGS = [("dmse1", 1.0, 500, 0.3), ("dmse1", 10.0, 500, 0.3), ("dmse2", 10.0, 500, 0.3)]


def test_the_dmse_claim_needs_a_baseline_that_learned():
    from landscape.topics.followup_mse.claims import dmse_improves

    ce = fake_sweep_result(lambda k, role, r: 1.0, lambda k, role, r: 0.89, CAPACITY_SETTINGS, width=16)

    def mse(base):
        return fake_sweep_result(lambda k, role, r: 1.0,
                                 lambda k, role, r: base + (0.05 + 0.005 * (r % 3) if k else 0.0), MSE_SETTINGS,
                                 width=16)
    status, _, values, reason = dmse_improves(mse(0.85), ce)
    assert status == "reproduced" and values["valid_widths"] == [16]
    status, _, _, reason = dmse_improves(mse(0.45), ce)
    assert status == "baseline invalid" and "did not learn" in reason


def test_a_rate_picked_at_the_edge_of_the_grid_is_named():
    from landscape.topics.followup_mse.analysis import edge_picks
    from landscape.topics.followup_mse.claims import dmse_improves

    ce = fake_sweep_result(lambda k, role, r: 1.0, lambda k, role, r: 0.89, CAPACITY_SETTINGS, width=16)
    grid = MSE_SETTINGS + [(loss, A, T, 1.0) for loss, A, T, _ in MSE_SETTINGS]  # η 0.3 and 1
    def mse(best_lr):  # every loss validates best at best_lr
        return fake_sweep_result(lambda k, role, r: 1.0, lambda k, role, r: 0.85 + (
            0.05 if grid[k][3] == best_lr else 0.0) + 0.005 * (r % 3) * (grid[k][1] > 1), grid, width=16)
    assert edge_picks(mse(0.3)) == {("MSE", 16): 0.3, ("DMSE1", 16): 0.3, ("DMSE2", 16): 0.3}  # 0.3 and 1: both edges
    three = grid + [(loss, A, T, 0.5) for loss, A, T, _ in MSE_SETTINGS]  # η 0.3, 0.5, 1: 0.5 is inside
    inside = fake_sweep_result(lambda k, role, r: 1.0, lambda k, role, r: 0.9 if three[k][3] == 0.5 else 0.8, three,
                               width=16)
    assert edge_picks(inside) == {}
    _, ours, values, _ = dmse_improves(mse(1.0), ce)
    assert "edge of the grid" in ours and values["edge_picks"] == ["MSE w16", "DMSE1 w16", "DMSE2 w16"]


def test_selection_needs_selection_runs():
    import pytest
    from landscape.topics.sweeps.analysis import selected_setting

    result = _generalizes(1, 1)
    result["member_role"] = np.full(result["member_role"].shape, "evaluation")
    with pytest.raises(ValueError, match="no selection runs"):
        selected_setting(result, 512, [1, 2])
