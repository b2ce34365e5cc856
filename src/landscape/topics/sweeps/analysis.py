"""Reading stored sweeps (width × setting × seed): final accuracies as a table, confidence intervals, paired
differences between settings that share their seeds (hence their initial weights)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from ...settings import Setting, setting_label
from ...data import SpiralSplitConfig
from ...ensemble_runs import EVALUATION, SELECTION
from ...statistics import MIN_SPLITS, SETTLED, readout, regime, run_states, t_interval

COLUMNS = ("train_accuracy", "validation_accuracy", "train_loss", "validation_loss")


def settings_of(result) -> list[Setting]:
    return [Setting(str(l), float(a), int(t), float(r)) for l, a, t, r in zip(
        result["setting_loss"], result["setting_amplitude"], result["setting_period"], result["setting_lr"])]


def lr_note(settings, ks) -> str:
    """The learning rates of settings `ks` for a verdict's condition: 'η = 1' when they share one, else per loss
    ('η: CE 1, DCE 3'; plain CE/MSE is A = 1)."""
    rates = {("CE" if settings[k][1] == 1 else "DCE") if settings[k][0] == "dce" else setting_label(settings[k]):
             settings[k][3] for k in ks}
    if len(set(rates.values())) == 1:
        return f"η = {next(iter(rates.values())):g}"
    return "η: " + ", ".join(f"{name} {lr:g}" for name, lr in rates.items())


def data_splits(result) -> int:
    """How many data splits the evaluation runs of a stored sweep cover (its runs vary the initial seed on each)."""
    return len(result["split_seeds"]) if "split_seeds" in result else 1


def run_counts(result) -> dict:
    """How many runs a stored sweep holds per cell (one width and setting), read off its member arrays — what the
    chapters' captions and text glue: `seeds` (initial seeds per evaluation split), `evaluation_splits`, `evaluation_runs`,
    `selection_splits`, `selection_runs`."""
    keys = _cell_keys(result)
    roles = np.asarray(result["member_role"]) if "member_role" in result else np.full(len(keys), EVALUATION)
    splits = np.asarray(result["member_split"]) if "member_split" in result else np.zeros(len(keys), dtype=int)
    cell = [i for i, key in enumerate(keys) if key == keys[0]]
    evaluation = [i for i in cell if roles[i] == EVALUATION]
    selection = [i for i in cell if roles[i] == SELECTION]
    evaluation_splits = len({int(splits[i]) for i in evaluation})
    return {"seeds": len(evaluation) // max(evaluation_splits, 1),
            "evaluation_splits": evaluation_splits, "evaluation_runs": len(evaluation),
            "selection_splits": len({int(splits[i]) for i in selection}), "selection_runs": len(selection)}


def _cell_keys(result) -> list:
    """Each member's cell (its setting, or its learning rate in size_lr)."""
    key = "member_setting" if "member_setting" in result else "member_lr"
    return [float(v) for v in np.asarray(result[key])]


def splits_note(result) -> str:
    """'' when the sweep covers MIN_SPLITS data splits; else why a generalization claim stops at "partly"."""
    n = data_splits(result)
    return "" if n >= MIN_SPLITS else (f"; {n} data split{'s' if n > 1 else ''} only: a generalization claim needs "
                                       f"≥ {MIN_SPLITS} splits to count as reproduced")


def sample_counts(result) -> tuple[int, int, int]:
    """(classes, training points, validation points) of one data split of a stored sweep (spiral or image)."""
    config = getattr(result, "typed_config", None)
    if config is None:  # a made-up result (a dict of arrays): the default spiral split
        config = SimpleNamespace(data=SpiralSplitConfig())
    if hasattr(config, "validation_per_class"):  # the image sweeps
        classes = 10
        return classes, config.train_per_class * classes, config.validation_per_class * classes
    data = config.data
    val = int(round(data.points_per_class * data.validation_fraction))
    return 3, (data.points_per_class - val) * 3, val * 3


def plateau_loss(loss: str, classes: int) -> float:
    """The training loss of the best constant prediction (the net has learned nothing): ln C for cross-entropy,
    (C − 1)/C for the summed squared error to one-hot targets."""
    return float(np.log(classes)) if loss == "dce" else (classes - 1) / classes


def member_states(result) -> dict[str, np.ndarray]:
    """(widths, members) run states (`statistics.run_states`) by what a claim compares: "train" (training accuracy),
    "validation" (validation accuracy), "loss" (the training loss; fitted runs settled)."""
    classes, n_train, n_val = sample_counts(result)
    steps = result["steps"]
    settings = settings_of(result)
    plateau = np.array([plateau_loss(settings[k].loss, classes) for k in result["member_setting"]])
    common = dict(plateau_loss=plateau[None, :], num_classes=classes, axis=1)
    loss, acc = result["train_loss"], result["train_accuracy"]
    return {"train": run_states(loss, acc, steps, compared=acc, compared_samples=n_train, **common),
            "validation": run_states(loss, acc, steps, compared=result["validation_accuracy"],
                                     compared_samples=n_val, **common),
            "loss": run_states(loss, acc, steps, **common)}


def final_frame(result) -> pd.DataFrame:
    """One row per (width, member): the final training and validation accuracy and loss — each the mean over the
    last records (`statistics.readout`), not one snapshot of a run that may spike — the run's state at the end of
    training by what is compared (`state_train`, `state_validation`, `state_loss`: settled / stuck / diverged /
    still learning, `statistics.run_states`), its data split and its role
    ("selection": picks hyper-parameters; "evaluation": tests them)."""
    settings = settings_of(result)
    steps = result["steps"]
    final = {name: readout(result[name], steps, axis=1) for name in COLUMNS}  # (widths, members)
    states = member_states(result)
    members = len(result["member_seed"])
    splits = result["member_split"] if "member_split" in result else np.zeros(members, dtype=int)
    roles = result["member_role"] if "member_role" in result else np.full(members, EVALUATION)
    rows = []
    for i, w in enumerate(result["widths"].tolist()):
        for m, (k, seed) in enumerate(zip(result["member_setting"], result["member_seed"])):
            loss, A, T, lr = settings[k]
            rows.append({"width": w, "setting": int(k), "label": setting_label(settings[k]), "loss": loss,
                         "amplitude": A, "period": T, "lr": lr, "seed": int(seed), "split": int(splits[m]),
                         "role": str(roles[m]),
                         **{name: float(final[name][i, m]) for name in COLUMNS},
                         **{f"state_{name}": str(states[name][i, m]) for name in states},
                         "diverged": bool(result["diverged_at"][i, m] >= 0)})
    return pd.DataFrame(rows)


def evaluation_frame(result) -> pd.DataFrame:
    """`final_frame` of the evaluation runs only: what every table and claim reads."""
    frame = final_frame(result)
    return frame[frame.role == EVALUATION].reset_index(drop=True)


def selection_frame(result) -> pd.DataFrame:
    """`final_frame` of the selection runs only (other data splits and initial seeds than the evaluation runs)."""
    frame = final_frame(result)
    return frame[frame.role == SELECTION].reset_index(drop=True)


def selected_setting(result, width: int, candidates, column: str = "validation_accuracy") -> int:
    """The candidate setting with the highest mean `column` at this width over the selection runs — never over the
    runs that then evaluate it. A sweep without selection runs cannot select: ValueError."""
    frame = selection_frame(result)
    if frame.empty:
        raise ValueError("this sweep has no selection runs (selection_split_seeds is empty)")
    return best_setting(frame, width, candidates, column)


def states_of(frame: pd.DataFrame, width: int, setting: int, compared: str = "validation") -> pd.Series:
    """Per seed: the run state (`state_<compared>`) of one cell's runs."""
    return per_seed(frame, width, setting, f"state_{compared}")


def settled_pairs(frame: pd.DataFrame, width: int, a: int, b: int, compared: str = "validation") -> list[int]:
    """The seeds whose runs of settings a and b both settled in the compared quantity (a claim about minima reads
    only these)."""
    x, y = states_of(frame, width, a, compared), states_of(frame, width, b, compared)
    return [int(s) for s in x.index if x.loc[s] == SETTLED and y.loc[s] == SETTLED]


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


def interval_text(mean: float, lower: float, upper: float) -> str:
    """'+0.012 [-0.003, +0.027]': a difference and its interval, as the chapters' tables print them."""
    return f"{mean:+.3f} [{lower:+.3f}, {upper:+.3f}]"


def gain_table(frame: pd.DataFrame, settings, reference: int) -> pd.DataFrame:
    """One row per (width, setting other than `reference`): its paired training- and validation-accuracy
    difference to the reference setting with 95% t-intervals (uncorrected: each row read alone)."""
    rows = []
    for w in sorted(frame.width.unique()):
        for k, (loss, A, T, lr) in enumerate(settings):
            if k == reference:
                continue
            tr = t_interval(paired_difference(frame, w, k, reference, "train_accuracy"))
            va = t_interval(paired_difference(frame, w, k, reference, "validation_accuracy"))
            rows.append({"width": int(w), "A": A, "T": T, "Δ train acc. [95% CI]": interval_text(*tr),
                         "Δ validation acc. [95% CI]": interval_text(*va)})
    return pd.DataFrame(rows)


def accuracy_table(frame: pd.DataFrame, settings, ks, width_name: str = "width", spread: bool = True,
                   gain_of: int | None = None, reference: int | None = None) -> pd.DataFrame:
    """One row per width: for each setting in `ks`, the seed-mean training accuracy (with [lowest, highest seed]
    when `spread`) and validation accuracy; with `gain_of`, also its paired gains over `reference` (95% CI)."""
    rows = []
    for w in sorted(frame.width.unique()):
        row = {width_name: int(w)}
        for k in ks:
            label = "CE" if not spread and settings[k][1] == 1 else setting_label(settings[k])
            tr, va = per_seed(frame, w, k, "train_accuracy"), per_seed(frame, w, k, "validation_accuracy")
            if spread:
                row[f"{label}: train"] = f"{tr.mean():.2f} [{tr.min():.2f}, {tr.max():.2f}]"
                row[f"{label}: val."] = f"{va.mean():.3f}"
            else:
                row[f"{label}: train"] = round(float(tr.mean()), 3)
                row[f"{label}: val."] = round(float(va.mean()), 3)
        if gain_of is not None:
            for col in ("train_accuracy", "validation_accuracy"):
                row[f"Δ {col.split('_')[0]} [95% CI]"] = interval_text(
                    *t_interval(paired_difference(frame, w, gain_of, reference, col)))
        rows.append(row)
    return pd.DataFrame(rows)


def capacity_numbers(frame: pd.DataFrame, settings, ce: int, dynamical) -> dict:
    """The numbers the capacity chapter's text quotes: CE and the best dynamical setting at the smallest and largest
    widths, where the dynamical loss gains most in validation accuracy, the best and worst setting at the largest
    width, and the first width where CE is overparameterized."""
    widths = sorted(int(w) for w in frame.width.unique())
    ce_train = {w: per_seed(frame, w, ce, "train_accuracy").mean() for w in widths}
    ce_val = {w: per_seed(frame, w, ce, "validation_accuracy").mean() for w in widths}
    best_val = {w: max(per_seed(frame, w, k, "validation_accuracy").mean() for k in dynamical) for w in widths}
    best_train = {w: max(per_seed(frame, w, k, "train_accuracy").mean() for k in dynamical) for w in widths}
    gain = {w: best_val[w] - ce_val[w] for w in widths}
    w_gain = max(gain, key=gain.get)
    large = {k: float(paired_difference(frame, widths[-1], k, ce).mean()) for k in dynamical}
    k_best, k_worst = max(large, key=large.get), min(large, key=large.get)
    return {"ce_fits_from": int(min([w for w in widths if regime(ce_train[w]) == "over"], default=0)),
            "w_small": widths[0], "w_large": widths[-1],
            "ce_train_small": float(ce_train[widths[0]]), "dyn_train_small": float(best_train[widths[0]]),
            "ce_val_large": float(ce_val[widths[-1]]), "dyn_val_large": float(best_val[widths[-1]]),
            "w_gain": int(w_gain), "gain_max": float(gain[w_gain]), "ce_train_gain": float(ce_train[w_gain]),
            "dyn_train_gain": float(best_train[w_gain]),
            "best_large_label": setting_label(settings[k_best]), "best_large_diff": large[k_best],
            "worst_large_label": setting_label(settings[k_worst]), "worst_large_diff": large[k_worst],
            "ce_train_large": float(ce_train[widths[-1]])}


def paired_numbers(frame: pd.DataFrame, setting: int, reference: int, width_prefix: str = "c") -> dict:
    """Per width w and for training ("train") and validation ("val") accuracy: the reference's seed mean
    (ce_<name>_<prefix>w), the setting's (dyn_…) and their paired mean difference (gain_…)."""
    out = {}
    for w in sorted(int(w) for w in frame.width.unique()):
        for name, col in (("train", "train_accuracy"), ("val", "validation_accuracy")):
            out[f"ce_{name}_{width_prefix}{w}"] = float(per_seed(frame, w, reference, col).mean())
            out[f"dyn_{name}_{width_prefix}{w}"] = float(per_seed(frame, w, setting, col).mean())
            out[f"gain_{name}_{width_prefix}{w}"] = float(paired_difference(frame, w, setting, reference, col).mean())
    return out
