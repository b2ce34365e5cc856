"""The small readers the chapters call instead of computing in the notebook, on made-up results."""

import numpy as np
import pandas as pd

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


def fake_converging_size_lr(moving_cell=None):
    """2 widths × 21 records (steps 0 … 2,000) × 4 members (η = 0.1, 0.1, 1, 1): losses that settle by step 1,000,
    lower for the wider net; `moving_cell` (width index, member indices) keeps falling to the end."""
    steps = np.arange(0, 2001, 100)
    settle = np.clip(1 - steps / 1000, 0, None)[None, :, None]
    final = np.array([1.0, 0.5])[:, None, None]
    loss = final + settle * np.ones((2, 1, 4))
    if moving_cell is not None:
        i, members = moving_cell
        loss[i][:, members] = (float(final[i, 0, 0]) + 2 * (1 - steps / 2000))[:, None]
    lam = np.broadcast_to(np.array([5.0, 5.0, 1.5, 1.5]), (2, 21, 4)).copy()
    return {"widths": np.array([8, 64]), "member_lr": np.array([0.1, 0.1, 1.0, 1.0]), "steps": steps,
            "train_loss": loss, "hessian_max": lam, "hessian_max_steps": steps,
            "diverged_at": np.full((2, 4), -1)}


def test_size_lr_claims_read_only_converged_cells():
    from landscape.topics.size_lr.analysis import converged_share, final_values
    from landscape.topics.size_lr.claims import lr_flattens, size_deepens

    result = fake_converging_size_lr()
    assert converged_share(result).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert final_values(result, "train_loss")[1].tolist() == [[1.0, 1.0], [0.5, 0.5]]
    assert size_deepens(result)[0] == "reproduced" and lr_flattens(result)[0] == "reproduced"
    moving = fake_converging_size_lr(moving_cell=(1, [2, 3]))  # the wide net at η = 1 still falls at the end
    assert converged_share(moving)[1].tolist() == [1.0, 0.0]
    status, ours, values = size_deepens(moving)
    assert status == "partly" and "not converged" in ours and "w64 η = 1" in ours
    assert lr_flattens(moving)[0] == "partly"


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


def fake_sweep_result(final_train, final_val, settings, splits=(1, 2, 3), seeds=4, moving=()):
    """A stored sweep, made up: one width (512), `settings`, one selection split (0) and `splits` for evaluation,
    `seeds` runs each. final_train/final_val(setting, role, run) give each run's flat final accuracies; members in
    `moving` (setting indices) have a training loss still falling at the end."""
    from landscape.ensemble_runs import plan_runs, run_arrays

    runs = plan_runs(seeds, splits, (0,))
    members = [(k, r) for k in range(len(settings)) for r in range(len(runs))]
    steps = np.arange(0, 1001, 100)
    shape = (1, len(steps), len(members))
    train, val, loss = np.zeros(shape), np.zeros(shape), np.ones(shape) * 0.1
    for m, (k, r) in enumerate(members):
        train[0, :, m] = final_train(k, runs[r][2], r)
        val[0, :, m] = final_val(k, runs[r][2], r)
        if k in moving:
            loss[0, :, m] = 1 - steps / 1000 * 0.9
    return {"widths": np.array([512]), "steps": steps, "train_accuracy": train, "validation_accuracy": val,
            "train_loss": loss, "validation_loss": loss, "diverged_at": np.full((1, len(members)), -1),
            "member_setting": np.array([k for k, _ in members]), **run_arrays([runs[r] for _, r in members]),
            "split_seeds": np.array(splits), "selection_split_seeds": np.array([0]),
            "setting_loss": np.array([s[0] for s in settings]), "setting_amplitude": np.array([s[1] for s in settings]),
            "setting_period": np.array([s[2] for s in settings]), "setting_lr": np.array([s[3] for s in settings])}


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

    status, ours, values = overparam_generalizes_better(_generalizes(1, 1))
    assert status == "reproduced" and values["picked"] == "DCE A=10 T=500 η=1" and values["difference"] > 0.04
    # the pick is made on the selection runs: a setting that wins there but loses on the evaluation runs loses
    status, _, values = overparam_generalizes_better(_generalizes(1, 2))
    assert status == "not reproduced" and values["picked"] == "DCE A=10 T=500 η=1" and values["difference"] < 0
    # fewer than 3 evaluation splits, or runs still moving: partly at best
    assert overparam_generalizes_better(_generalizes(1, 1, splits=(1, 2)))[0] == "partly"
    status, ours, _ = overparam_generalizes_better(_generalizes(1, 1, moving=(0, 1)))
    assert status == "partly" and "not at minima" in ours


def test_the_small_network_claim_picks_its_setting_on_the_selection_runs():
    from landscape.topics.capacity.claims import small_nets_rescued

    def train(k, role, r):  # CE fails everywhere; setting 2 trains on the selection runs, setting 1 on evaluation
        if k == 0:
            return 0.5
        return (0.99 if k == 2 else 0.6) if role == "selection" else (0.99 if k == 1 else 0.6 + 0.01 * (r % 2))
    result = fake_sweep_result(train, lambda k, role, r: 0.5, CAPACITY_SETTINGS)
    status, ours, values = small_nets_rescued(result)
    assert status == "partly" and values["rescued"] == []  # setting 2, picked, only gains 0.1: not "fits"
    result = fake_sweep_result(lambda k, role, r: 0.5 if k == 0 else 0.99, lambda k, role, r: 0.5, CAPACITY_SETTINGS)
    assert small_nets_rescued(result)[0] == "reproduced"


def test_selection_needs_selection_runs():
    import pytest
    from landscape.topics.sweeps.analysis import selected_setting

    result = _generalizes(1, 1)
    result["member_role"] = np.full(result["member_role"].shape, "evaluation")
    with pytest.raises(ValueError, match="no selection runs"):
        selected_setting(result, 512, [1, 2])
