"""Reading the MSE-family sweep beside the capacity sweep's CE and DCE runs: one frame with a loss family per run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sweeps.analysis import final_frame

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
