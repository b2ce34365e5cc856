"""Reading stored sweeps (width × setting × seed): final accuracies as a table, confidence intervals, paired
differences between settings that share their seeds (hence their initial weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...settings import Setting, setting_label


def settings_of(result) -> list[Setting]:
    return [Setting(str(l), float(a), int(t), float(r)) for l, a, t, r in zip(
        result["setting_loss"], result["setting_amplitude"], result["setting_period"], result["setting_lr"])]


def final_frame(result, record: int = -1) -> pd.DataFrame:
    """One row per (width, member): the final training and validation accuracy and loss."""
    settings = settings_of(result)
    rows = []
    for i, w in enumerate(result["widths"].tolist()):
        for m, (k, seed) in enumerate(zip(result["member_setting"], result["member_seed"])):
            loss, A, T, lr = settings[k]
            rows.append({"width": w, "setting": int(k), "label": setting_label(settings[k]), "loss": loss,
                         "amplitude": A, "period": T, "lr": lr, "seed": int(seed),
                         "train_accuracy": float(result["train_accuracy"][i, record, m]),
                         "validation_accuracy": float(result["validation_accuracy"][i, record, m]),
                         "train_loss": float(result["train_loss"][i, record, m]),
                         "validation_loss": float(result["validation_loss"][i, record, m]),
                         "diverged": bool(result["diverged_at"][i, m] >= 0)})
    return pd.DataFrame(rows)


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper) of a Student-t confidence interval for the mean (NaN dropped)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


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
