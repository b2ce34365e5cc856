"""Reading stored sweeps (width × setting × seed): final accuracies as a table, confidence intervals, paired
differences between settings that share their seeds (hence their initial weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...settings import Setting, setting_label
from ...statistics import readout, still_moving, t_interval

COLUMNS = ("train_accuracy", "validation_accuracy", "train_loss", "validation_loss")


def settings_of(result) -> list[Setting]:
    return [Setting(str(l), float(a), int(t), float(r)) for l, a, t, r in zip(
        result["setting_loss"], result["setting_amplitude"], result["setting_period"], result["setting_lr"])]


def final_frame(result) -> pd.DataFrame:
    """One row per (width, member): the final training and validation accuracy and loss — each the mean over the
    last records (`statistics.readout`), not one snapshot of a run that may spike — and whether the run converged
    (its training loss no longer moving over the last 10 % of training, `statistics.still_moving`)."""
    settings = settings_of(result)
    steps = result["steps"]
    final = {name: readout(result[name], steps, axis=1) for name in COLUMNS}  # (widths, members)
    moving = still_moving(result["train_loss"], steps, axis=1)
    rows = []
    for i, w in enumerate(result["widths"].tolist()):
        for m, (k, seed) in enumerate(zip(result["member_setting"], result["member_seed"])):
            loss, A, T, lr = settings[k]
            rows.append({"width": w, "setting": int(k), "label": setting_label(settings[k]), "loss": loss,
                         "amplitude": A, "period": T, "lr": lr, "seed": int(seed),
                         **{name: float(final[name][i, m]) for name in COLUMNS},
                         "converged": not bool(moving[i, m]),
                         "diverged": bool(result["diverged_at"][i, m] >= 0)})
    return pd.DataFrame(rows)


def per_seed(frame: pd.DataFrame, width: int, setting: int, column: str, seeds=None) -> pd.Series:
    rows = frame[(frame.width == width) & (frame.setting == setting)].set_index("seed")[column]
    return rows if seeds is None else rows.loc[list(seeds)]


def paired_difference(frame: pd.DataFrame, width: int, a: int, b: int, column: str = "validation_accuracy",
                      seeds=None) -> np.ndarray:
    """Per seed: setting a − setting b (same seed = same initial weights)."""
    x, y = per_seed(frame, width, a, column, seeds), per_seed(frame, width, b, column, seeds)
    return (x - y.loc[x.index]).to_numpy()


def best_setting(frame: pd.DataFrame, width: int, candidates, column: str = "validation_accuracy",
                 seeds=None) -> int:
    """The candidate setting with the highest seed-mean of `column` at this width (over `seeds` if given)."""
    means = {k: per_seed(frame, width, k, column, seeds).mean() for k in candidates}
    return max(means, key=lambda k: means[k])


def summary_frame(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Seed mean and 95% t-interval of `column` per (width, setting)."""
    rows = []
    for (w, k, label), g in frame.groupby(["width", "setting", "label"], sort=True):
        mean, lo, hi = t_interval(g[column])
        rows.append({"width": w, "setting": k, "label": label, "mean": mean, "lower": lo, "upper": hi,
                     "seeds": int(g[column].notna().sum())})
    return pd.DataFrame(rows)


def amp_period_grid(frame: pd.DataFrame, width: int, column: str) -> pd.DataFrame:
    """Seed-mean of `column` as an (A × T) table at one width; the A = 1 row (plain loss) is the same for every T."""
    at = frame[frame.width == width]
    periods = sorted(at[at.amplitude > 1].period.unique())
    table = at[at.amplitude > 1].groupby(["amplitude", "period"])[column].mean().unstack("period")
    plain = at[at.amplitude == 1][column].mean()
    table.loc[1.0] = plain
    return table.sort_index().reindex(columns=periods)


def crossfit_difference(frame: pd.DataFrame, width: int, candidates_a, candidates_b,
                        column: str = "validation_accuracy") -> np.ndarray:
    """Per seed: (best of candidates_a) − (best of candidates_b), where each 'best' (e.g. the learning rate) is picked
    on the *other* half of the seeds — a paired comparison free of selection bias (cross-fitting)."""
    seeds = sorted(frame[frame.width == width].seed.unique())
    halves = (seeds[: len(seeds) // 2], seeds[len(seeds) // 2:])
    out = []
    for pick, test in ((halves[0], halves[1]), (halves[1], halves[0])):
        a = best_setting(frame, width, candidates_a, column, seeds=pick)
        b = best_setting(frame, width, candidates_b, column, seeds=pick)
        out.extend(paired_difference(frame, width, a, b, column, seeds=test))
    return np.array(out)
