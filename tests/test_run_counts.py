"""The run counts the sweep chapters glue into captions are read off the stored members, not typed."""

import numpy as np

from landscape.ensemble_runs import EVALUATION, SELECTION
from landscape.topics.sweeps.analysis import run_counts


def made_up_sweep(settings=2, seeds=4, evaluation_splits=(1, 2, 3), selection_splits=(0,)):
    members = [(s, split, seed) for s in range(settings) for split in (*selection_splits, *evaluation_splits)
               for seed in range(seeds)]
    return {"member_setting": np.array([m[0] for m in members]), "member_split": np.array([m[1] for m in members]),
            "member_seed": np.arange(len(members)),
            "member_role": np.array([SELECTION if m[1] in selection_splits else EVALUATION for m in members])}


def test_counts_per_cell():
    assert run_counts(made_up_sweep()) == {"seeds": 4, "evaluation_splits": 3, "evaluation_runs": 12,
                                           "selection_splits": 1, "selection_runs": 4}
    assert run_counts(made_up_sweep(seeds=5, evaluation_splits=(0, 1, 2, 3), selection_splits=()))["evaluation_runs"] == 20


def test_a_size_lr_layout_counts_by_learning_rate():
    sweep = made_up_sweep(seeds=5, evaluation_splits=(0, 1, 2, 3), selection_splits=())
    sweep["member_lr"] = np.where(sweep.pop("member_setting") == 0, 0.1, 1.0)
    assert run_counts(sweep)["evaluation_runs"] == 20 and run_counts(sweep)["seeds"] == 5
