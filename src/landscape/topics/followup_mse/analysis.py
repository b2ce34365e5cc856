"""Reading the MSE-family sweep beside the capacity sweep's CE and DCE runs: one frame with a loss family per run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sweeps.analysis import crossfit_difference, final_frame, interval_text, settings_of
from ...statistics import t_interval

FAMILIES = ("CE", "DCE", "MSE", "DMSE1", "DMSE2")


def family_frame(mse_runs, ce_runs) -> pd.DataFrame:
    """Final values of every run of `followup_mse` and, at the same widths, capacity's CE and DCE A = 10, T = 500
    runs, with the column `family` (CE, DCE, MSE, DMSE1, DMSE2) and `run` (which sweep it comes from)."""
    widths = mse_runs["widths"].tolist()
    mse_frame = final_frame(mse_runs)
    ce_frame = final_frame(ce_runs)
    ce_frame = ce_frame[ce_frame.width.isin(widths) & ((ce_frame.amplitude == 1)
                                                       | ((ce_frame.amplitude == 10) & (ce_frame.period == 500)))]
    both = pd.concat([mse_frame.assign(run="followup_mse"), ce_frame.assign(run="capacity")], ignore_index=True)
    both["family"] = np.select([both.loss.eq("dce") & both.amplitude.eq(1), both.loss.eq("dce"),
                                both.amplitude.eq(1), both.loss.eq("dmse1")], ["CE", "DCE", "MSE", "DMSE1"], "DMSE2")
    return both


def best_rate_means(frame: pd.DataFrame, column: str = "validation_accuracy") -> pd.Series:
    """Seed-mean `column` per (family, width), at the learning rate where that mean is highest."""
    return frame.groupby(["family", "width", "lr"])[column].mean().groupby(["family", "width"]).max()


def _families(result):
    settings = settings_of(result)
    pick = lambda pred: [k for k, s in enumerate(settings) if pred(s)]
    return {"MSE": pick(lambda s: s[1] == 1), "DMSE1": pick(lambda s: s[0] == "dmse1" and s[1] > 1),
            "DMSE2": pick(lambda s: s[0] == "dmse2" and s[1] > 1)}


VARIANTS = ("DMSE1", "DMSE2")


def dmse_gains(result):
    """{(variant, width): (mean, lower, upper)} of the cross-fitted paired validation-accuracy gain over MSE (each
    loss at its better learning rate, picked on the other half of the seeds); the intervals are Bonferroni-corrected
    for the variants × widths the claim picks from."""
    frame = final_frame(result)
    fam = _families(result)
    widths = result["widths"].tolist()
    return {(v, w): t_interval(crossfit_difference(frame, w, fam[v], fam["MSE"]),
                               comparisons=len(VARIANTS) * len(widths))
            for v in VARIANTS for w in widths}


def gains_table(mse_runs, ce_runs) -> pd.DataFrame:
    """Per width: DCE (A = 10, T = 500) − CE, and DMSE1 / DMSE2 − MSE validation accuracy, each loss at its better
    learning rate picked on the other half of the seeds, with intervals (the DMSE ones Bonferroni-corrected, as the
    claim reads them)."""
    gains = dmse_gains(mse_runs)
    ce_settings = settings_of(ce_runs)
    ce = next(k for k, s in enumerate(ce_settings) if s[1] == 1)
    dce = next(k for k, s in enumerate(ce_settings) if s[1] == 10 and s[2] == 500)
    ce_frame = final_frame(ce_runs)
    rows = []
    for w in mse_runs["widths"].tolist():
        row = {"width": w, "DCE − CE": interval_text(*t_interval(crossfit_difference(ce_frame, w, [dce], [ce])))}
        for v in ("DMSE1", "DMSE2"):
            row[f"{v} − MSE"] = interval_text(*gains[(v, w)])
        rows.append(row)
    return pd.DataFrame(rows)
