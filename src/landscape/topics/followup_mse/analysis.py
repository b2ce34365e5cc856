"""Reading the MSE-family sweep beside the capacity sweep's CE and DCE runs: one frame with a loss family per run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sweeps.analysis import (evaluation_frame, interval_text, paired_difference, per_seed, selected_setting,
                               settings_of, settled_pairs)
from ...statistics import t_interval

FAMILIES = ("CE", "DCE", "MSE", "DMSE1", "DMSE2")


def family_frame(mse_runs, ce_runs) -> pd.DataFrame:
    """Final values of every evaluation run of `followup_mse` and, at the same widths, capacity's CE and DCE A = 10,
    T = 500 evaluation runs, with the column `family` (CE, DCE, MSE, DMSE1, DMSE2) and `run` (which sweep it comes from)."""
    widths = mse_runs["widths"].tolist()
    mse_frame = evaluation_frame(mse_runs)
    ce_frame = evaluation_frame(ce_runs)
    ce_frame = ce_frame[ce_frame.width.isin(widths) & ((ce_frame.amplitude == 1)
                                                       | ((ce_frame.amplitude == 10) & (ce_frame.period == 500)))]
    both = pd.concat([mse_frame.assign(run="followup_mse"), ce_frame.assign(run="capacity")], ignore_index=True)
    both["family"] = np.select([both.loss.eq("dce") & both.amplitude.eq(1), both.loss.eq("dce"),
                                both.amplitude.eq(1), both.loss.eq("dmse1")], ["CE", "DCE", "MSE", "DMSE1"], "DMSE2")
    return both


def picked_lrs(mse_runs) -> dict:
    """{(family, width): η} of the MSE-family losses, picked on the selection runs (`selected_rates`)."""
    return {key: float(mse_runs["setting_lr"][k]) for key, k in selected_rates(mse_runs).items()}


def picked_rate_means(frame: pd.DataFrame, mse_runs, column: str = "validation_accuracy") -> pd.Series:
    """Mean `column` of `family_frame` per (family, width): the MSE-family losses at the learning rate picked on the
    selection runs (`picked_lrs`), CE and DCE at their one rate."""
    lr = picked_lrs(mse_runs)
    keep = frame.apply(lambda r: r.family in ("CE", "DCE") or r.lr == lr[(r.family, r.width)], axis=1)
    return frame[keep].groupby(["family", "width"])[column].mean()


def edge_picks(result) -> dict:
    """{(family, width): η} of the picks (`picked_lrs`) at the smallest or largest rate of the grid: there the loss's
    best rate may lie outside the grid, and a verdict that reads it says so."""
    grid = sorted({float(lr) for lr in result["setting_lr"]})
    return {key: lr for key, lr in picked_lrs(result).items() if len(grid) > 1 and lr in (grid[0], grid[-1])}


def _families(result):
    settings = settings_of(result)
    pick = lambda pred: [k for k, s in enumerate(settings) if pred(s)]
    return {"MSE": pick(lambda s: s[1] == 1), "DMSE1": pick(lambda s: s[0] == "dmse1" and s[1] > 1),
            "DMSE2": pick(lambda s: s[0] == "dmse2" and s[1] > 1)}


VARIANTS = ("DMSE1", "DMSE2")


def selected_rates(result) -> dict:
    """{(family, width): setting index}: each loss's learning rate, picked per width on the selection runs (highest
    mean validation accuracy)."""
    return {(f, w): selected_setting(result, w, ks) for f, ks in _families(result).items()
            for w in result["widths"].tolist()}


def dmse_gains(result, widths=None):
    """{(variant, width): (mean, lower, upper, pairs)} of the paired validation-accuracy gain over MSE on the
    evaluation runs whose two runs both settled, each loss at its own learning rate picked on the selection runs;
    the intervals are Bonferroni-corrected for the variants × `widths` the claim reads (default: all)."""
    frame = evaluation_frame(result)
    picked = selected_rates(result)
    widths = result["widths"].tolist() if widths is None else list(widths)
    out = {}
    for v in VARIANTS:
        for w in widths:
            seeds = settled_pairs(frame, w, picked[(v, w)], picked[("MSE", w)], "validation")
            out[(v, w)] = (*t_interval(paired_difference(frame, w, picked[(v, w)], picked[("MSE", w)], seeds=seeds),
                                       comparisons=len(VARIANTS) * max(len(widths), 1)), len(seeds))
    return out


def gain_text(gain) -> str:
    """One `dmse_gains` entry as text: '+0.012 [-0.003, +0.027] (9 settled pairs)', or 'no interval (1 settled
    pair)' where fewer than two pairs settled (no interval exists, not a NaN)."""
    mean, lower, upper, pairs = gain
    counted = f"{pairs} settled pair{'s' * (pairs != 1)}"
    return f"{interval_text(mean, lower, upper)} ({counted})" if pairs >= 2 else f"no interval ({counted})"


def baseline_accuracies(mse_runs, ce_runs) -> dict:
    """{width: (MSE's mean validation accuracy at its picked η, CE's on the same widths and splits)} over the
    evaluation runs: whether MSE learned at all (`statistics.baseline_valid`)."""
    mse_frame, ce_frame = evaluation_frame(mse_runs), evaluation_frame(ce_runs)
    picked = selected_rates(mse_runs)
    ce = next(k for k, s in enumerate(settings_of(ce_runs)) if s[0] == "dce" and s[1] == 1)
    out = {}
    for w in mse_runs["widths"].tolist():
        mse = float(per_seed(mse_frame, w, picked[("MSE", w)], "validation_accuracy").mean())
        ce_val = per_seed(ce_frame, w, ce, "validation_accuracy") if w in ce_frame.width.values else None
        out[w] = (mse, float(ce_val.mean()) if ce_val is not None else float("nan"))
    return out


def gains_table(mse_runs, ce_runs) -> pd.DataFrame:
    """Per width: the learning rate picked for each MSE-family loss, DCE (A = 10, T = 500) − CE and DMSE1 / DMSE2 −
    MSE validation accuracy on the evaluation runs, with intervals (the DMSE ones Bonferroni-corrected, as the claim
    reads them)."""
    gains = dmse_gains(mse_runs)
    picked = selected_rates(mse_runs)
    mse_settings = settings_of(mse_runs)
    ce_settings = settings_of(ce_runs)
    ce = next(k for k, s in enumerate(ce_settings) if s[1] == 1)
    dce = next(k for k, s in enumerate(ce_settings) if s[1] == 10 and s[2] == 500)
    ce_frame = evaluation_frame(ce_runs)
    rows = []
    for w in mse_runs["widths"].tolist():
        row = {"width": w, "η picked (MSE, DMSE1, DMSE2)": ", ".join(
            f"{mse_settings[picked[(f, w)]][3]:g}" for f in ("MSE",) + VARIANTS),
               "DCE − CE": interval_text(*t_interval(paired_difference(ce_frame, w, dce, ce)))}
        for v in VARIANTS:
            row[f"{v} − MSE (settled pairs)"] = gain_text(gains[(v, w)])
        rows.append(row)
    return pd.DataFrame(rows)
