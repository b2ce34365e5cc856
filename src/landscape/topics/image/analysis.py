"""Reading the stored `image` results: the runs of one role (selection or evaluation), their final values, CE's
learning rate picked on the selection runs (`select` preset), and the numbers the chapter quotes.

The arrays have the layout of the spiral sweeps (curves (width, record, member), the member axis last; member and
setting tables), so `runs_of` views can be handed to the sweeps' readers and figures, and the final values are the
sweeps' own (`sweeps.analysis.final_frame`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sweeps.analysis import (final_frame as sweep_final_frame, paired_difference, per_seed, settings_of)
from ...ensemble_runs import EVALUATION, SELECTION
from ...settings import setting_label
from ...statistics import OVERPARAMETERIZED, RUN_STATES, SETTLED, regime

SETTLED_SHARE = 0.9  # the chapter calls a cell settled where this share of its runs settled

ROLES = (SELECTION, EVALUATION)
MEMBER_ARRAYS = ("train_", "validation_", "early_objective", "diverged_at", "member_")  # their last axis: members
COLLAPSED_BELOW = 0.15  # a run that ends below this training accuracy (chance: 0.1 for 10 classes) has collapsed


class RunView(dict):
    """Some of a result's arrays, with the result's config (`typed_config`) for the readers that need it."""

    typed_config = None


def runs_of(result, role: str) -> RunView:
    """The stored arrays restricted to the runs of one role ("selection" or "evaluation"): a dict that the sweep
    readers and figures take in place of the result."""
    if role not in ROLES:
        raise ValueError(f"role={role!r} is not allowed: role must be one of {ROLES}")
    arrays = result.arrays if hasattr(result, "arrays") else result
    keep = np.nonzero(np.asarray(arrays["member_role"]) == role)[0]
    view = RunView({name: np.take(np.asarray(a), keep, axis=-1) if name.startswith(MEMBER_ARRAYS) else np.asarray(a)
                    for name, a in arrays.items()})
    view.typed_config = getattr(result, "typed_config", None)
    return view


def has_runs(result, role: str) -> bool:
    return bool((np.asarray(result["member_role"]) == role).any())


def ce_and_dynamical(result) -> tuple[list, int, list[int]]:
    """(settings, the plain-CE setting, the dynamical settings) of a result."""
    settings = settings_of(result)
    ce = next(k for k, s in enumerate(settings) if s[1] == 1)
    return settings, ce, [k for k, s in enumerate(settings) if s[1] > 1]


def final_frame(result, role: str | None = None) -> pd.DataFrame:
    """`sweeps.analysis.final_frame` of the runs of `role` (all runs if None) — final values, convergence, setting,
    initial seed, data split and role of each (width, member) — plus "collapsed": the run ends at chance (training
    accuracy below COLLAPSED_BELOW, e.g. every ReLU dead after a catapult)."""
    frame = sweep_final_frame(result if role is None else runs_of(result, role))
    frame["collapsed"] = frame.train_accuracy < COLLAPSED_BELOW
    return frame


# --------------------------------------------------------------------------------------- CE's learning rate
def selection_table(select_result) -> pd.DataFrame:
    """One row per (width, η) of the `select` preset (plain CE on the selection runs): run means of the final
    training and validation accuracy and training loss, how many runs settled (validation accuracy no longer
    moving, `statistics.run_states`), diverged and collapsed."""
    frame = final_frame(select_result, SELECTION)
    rows = []
    for (w, lr), g in frame.groupby(["width", "lr"], sort=True):
        rows.append({"channels": int(w), "η": lr, "train acc.": g.train_accuracy.mean(),
                     "val. acc.": g.validation_accuracy.mean(), "train loss": g.train_loss.mean(),
                     "runs": len(g), "settled": int((g.state_validation == SETTLED).sum()),
                     "diverged": int(g.diverged.sum()), "collapsed": int(g.collapsed.sum())})
    return pd.DataFrame(rows)


def tried_lrs(select_result) -> list[float]:
    """The learning rates the selection runs tried (the stored settings' η, ascending)."""
    return sorted({float(lr) for lr in select_result["setting_lr"]})


def select_lr(select_result) -> float:
    """CE's learning rate, picked on the selection runs by a rule fixed before they ran: among the η at which no
    run diverged at any width and none collapsed at the largest width (where CE is the baseline that must fit), the
    one with the highest validation accuracy (run mean per width, then the mean over the widths); a tie goes to the
    smaller η. (Collapse entered the rule after the first protocol, before the selection runs of the second.)"""
    frame = final_frame(select_result, SELECTION)
    scores = {}
    for lr, g in frame.groupby("lr", sort=True):
        if not (g.diverged.any() or g[g.width == g.width.max()].collapsed.any()):
            scores[lr] = float(g.groupby("width").validation_accuracy.mean().mean())
    if not scores:
        raise ValueError("at every learning rate a selection run diverged, or collapsed at the largest width")
    best = max(scores.values())
    return float(min(lr for lr, s in scores.items() if s == best))


# ------------------------------------------------------------------------------------------- the full sweep
def settled_share(frame: pd.DataFrame, width: int, setting: int) -> float:
    """The share of a cell's runs whose validation accuracy settled."""
    return float((per_seed(frame, width, setting, "state_validation") == SETTLED).mean())


def evaluation_numbers(result) -> dict:
    """The numbers the chapter quotes, over the evaluation runs: per width w (prefix "c"), CE's and the (first)
    dynamical setting's run means and their paired difference (`ce_train_c2`, `dyn_val_c8`, `gain_train_c4`, …),
    the settled share of each cell (`ce_conv_c2`, `dyn_conv_c2`: validation accuracy settled), how many runs fit the training set (training
    accuracy ≥ OVERPARAMETERIZED: `ce_fit_c2`, `dyn_fit_c2`) and collapsed (`ce_collapsed_c2`, …), the regime, and the
    counts of runs and splits."""
    settings, ce, dyn = ce_and_dynamical(result)
    frame = final_frame(result, EVALUATION)
    roles = np.asarray(result["member_role"])
    out = {"runs": int(len(set(frame.seed))), "splits": int(len(result["split_seeds"])),
           "selection_runs": int(len(set(np.asarray(result["member_seed"])[roles == SELECTION]))),
           "not_converged": int((frame.state_validation != SETTLED).sum()), "cells_runs": int(len(frame)),
           "collapsed": int(frame.collapsed.sum()),
           "dyn_label": setting_label(settings[dyn[0]]), "lr": settings[ce][3]}
    widths = sorted(int(w) for w in frame.width.unique())
    out["c_small"], out["c_large"] = widths[0], widths[-1]
    for w in widths:
        for name, col in (("train", "train_accuracy"), ("val", "validation_accuracy")):
            out[f"ce_{name}_c{w}"] = float(per_seed(frame, w, ce, col).mean())
            out[f"dyn_{name}_c{w}"] = float(per_seed(frame, w, dyn[0], col).mean())
            out[f"gain_{name}_c{w}"] = float(paired_difference(frame, w, dyn[0], ce, col).mean())
        out[f"ce_loss_c{w}"] = float(per_seed(frame, w, ce, "train_loss").mean())
        out[f"dyn_loss_c{w}"] = float(per_seed(frame, w, dyn[0], "train_loss").mean())
        out[f"ce_conv_c{w}"] = settled_share(frame, w, ce)
        out[f"ce_fit_c{w}"] = int((per_seed(frame, w, ce, "train_accuracy") >= OVERPARAMETERIZED).sum())
        out[f"dyn_fit_c{w}"] = int((per_seed(frame, w, dyn[0], "train_accuracy") >= OVERPARAMETERIZED).sum())
        out[f"ce_collapsed_c{w}"] = int(per_seed(frame, w, ce, "collapsed").sum())
        out[f"dyn_collapsed_c{w}"] = int(per_seed(frame, w, dyn[0], "collapsed").sum())
        out[f"dyn_conv_c{w}"] = settled_share(frame, w, dyn[0])
        out[f"regime_c{w}"] = regime(out[f"ce_train_c{w}"])
    out["ce_over_from"] = min([w for w in widths if out[f"regime_c{w}"] == "over"], default=0)
    out["cells_converged"] = all(out[f"{p}_conv_c{w}"] >= SETTLED_SHARE for w in widths for p in ("ce", "dyn"))
    return out


def convergence_table(result, role: str = EVALUATION) -> pd.DataFrame:
    """One row per (width, setting) over the runs of `role`: the run mean of the final training loss (plain CE),
    and how many runs ended in each state judged on the validation accuracy (`statistics.run_states`: settled,
    stuck, still learning, diverged) and collapsed."""
    settings = settings_of(result)
    frame = final_frame(result, role)
    rows = []
    for (w, k), g in frame.groupby(["width", "setting"], sort=True):
        rows.append({"channels": int(w), "setting": setting_label(settings[k]),
                     "final train loss": float(g.train_loss.mean()), "runs": len(g),
                     **{state: int((g.state_validation == state).sum()) for state in RUN_STATES},
                     "collapsed": int(g.collapsed.sum())})
    return pd.DataFrame(rows)
