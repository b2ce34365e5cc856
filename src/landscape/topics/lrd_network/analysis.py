"""Reading the stored `lrd_network` result: final values and convergence of the subpaths, convergence of the main
path before the later half of the decay epochs, and the paper's statistic — Pearson r(decay epoch, final test loss)
over the later half of the decay epochs — per seed and pooled over seeds; and the main path on the PCA landscape
against a small-rate path from the same point (`path_landscape`).

Everything here was fixed on the calibration run (seed 0, experiment v1) before the evaluation seeds were run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...pca_landscape import LANDSCAPE_ARRAYS, nearest_grid_values
from ...statistics import CONVERGENCE_ATOL, CONVERGENCE_RTOL, readout, still_moving

# The main path has converged at the large learning rate before the later half when its training loss no longer
# moves over the MAIN_WINDOW_EPOCHS before the first later-half decay epoch T: the mean over the first half of that
# window and the mean over its second half differ by at most the book's tolerance, statistics.CONVERGENCE_ATOL +
# CONVERGENCE_RTOL × the first mean. Window means (10 records each), not the single record at 90 % that
# `statistics.still_moving` compares with the last 5 %: at the large learning rate the training loss fluctuates
# from record to record by about the book's absolute tolerance (seed 0 of v1: sd 0.0015 around 0.006 on its
# plateau), so on a single record a flat path reads as moving about half the time.
MAIN_WINDOW_EPOCHS = 100
# The authors' statistic on their one CIFAR-10 run: r(decay epoch, final test loss) over decay epochs 500–1,000
# (paper notes); drawn on the book's figure, labelled "paper".
PAPER_LATE_HALF_R = -0.926


def later_half(result) -> np.ndarray:
    """The decay epochs the paper's statistic reads: those at or after the median decay epoch (the authors: 500 –
    1,000 of 200 – 1,000)."""
    epochs = result["sub_decay_epochs"]
    return epochs >= np.median(epochs)


def final_values(result, name: str = "test_loss") -> np.ndarray:
    """(seed, decay): each subpath's final value of the curve `sub_{name}`, the mean over its last records
    (`statistics.readout`)."""
    return readout(result[f"sub_{name}"], result["sub_eval_offsets"], axis=2)


def subpath_converged(result) -> np.ndarray:
    """(seed, decay): True where neither the subpath's training loss nor its held-out test loss still moves at its
    end (`statistics.still_moving`)."""
    offsets = result["sub_eval_offsets"]
    return ~(still_moving(result["sub_train_loss"], offsets, axis=2)
             | still_moving(result["sub_test_loss"], offsets, axis=2))


def main_convergence(result) -> list[dict]:
    """Per seed: did the main path's training loss stop moving at the large learning rate before the first
    later-half decay epoch T? (MAIN_WINDOW_EPOCHS before T, first half against second half; see above.)"""
    epochs = result["main_eval_epochs"]
    first_late = int(result["sub_decay_epochs"][later_half(result)][0])
    start = max(0, first_late - MAIN_WINDOW_EPOCHS)
    middle = (start + first_late) / 2
    early = (epochs > start) & (epochs <= middle)
    late = (epochs > middle) & (epochs <= first_late)
    out = []
    for seed, curve in zip(result["seeds"].tolist(), result["main_train_loss"]):
        before, after = float(curve[early].mean()), float(curve[late].mean())
        tolerance = CONVERGENCE_ATOL + CONVERGENCE_RTOL * abs(before)
        out.append({"seed": int(seed), "window": (int(start), int(first_late)), "before": before, "after": after,
                    "tolerance": tolerance, "converged": bool(abs(after - before) <= tolerance)})
    return out


def main_over_later_half(result, epochs: int = 50) -> list[tuple[float, float]]:
    """Per seed, (mean over the first `epochs` of the later half, mean over its last `epochs`) of the main path's
    training loss — whether it still fell while the later-half subpaths branched off (reported, not scored)."""
    e = result["main_eval_epochs"]
    late = result["sub_decay_epochs"][later_half(result)]
    first = (e > late[0]) & (e <= late[0] + epochs)
    last = (e > late[-1] - epochs) & (e <= late[-1])
    return [(float(c[first].mean()), float(c[last].mean())) for c in result["main_train_loss"]]


def _r_p(x, y) -> tuple[float, float]:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan"), float("nan")
    r, p = stats.pearsonr(x, y)
    return float(r), float(p)


def pooled_correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """(r, p, degrees of freedom) of the within-seed-centered Pearson correlation of rows of `x` and `y` (seed,
    point): each seed's mean is removed from its x and y, then all points are pooled. The p-value is the partial
    correlation's: t = r √(df / (1 − r²)) on df = N − k − 1 (N points, k seeds: one common slope and k means)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = (x - x.mean(axis=1, keepdims=True)).ravel()
    yc = (y - y.mean(axis=1, keepdims=True)).ravel()
    df = x.size - x.shape[0] - 1
    if df < 1 or not np.any(xc) or not np.any(yc):
        return float("nan"), float("nan"), int(df)
    r = float(np.clip(np.dot(xc, yc) / np.sqrt(np.dot(xc, xc) * np.dot(yc, yc)), -1.0, 1.0))
    if abs(r) == 1.0:
        return r, 0.0, int(df)
    t = r * np.sqrt(df / (1 - r * r))
    return r, float(2 * stats.t.sf(abs(t), df)), int(df)


def decay_correlations(result) -> dict:
    """For the held-out test loss ("test") and the authors' proxy ("proxy"): Pearson r(decay epoch, final loss) per
    seed over the later half of the decay epochs (the paper's statistic) and over all of them, and the pooled
    within-seed-centered r over the later half."""
    epochs = result["sub_decay_epochs"]
    late = later_half(result)
    out = {"late_half_epochs": [int(e) for e in epochs[late]], "seeds": [int(s) for s in result["seeds"]]}
    for name in ("test", "proxy"):
        final = final_values(result, f"{name}_loss")
        per_seed = [_r_p(epochs[late], f[late]) for f in final]
        overall = [_r_p(epochs, f) for f in final]
        r, p, df = pooled_correlation(np.broadcast_to(epochs[late], final[:, late].shape), final[:, late])
        out[name] = {"r_late_half": [r_ for r_, _ in per_seed], "p_late_half": [p_ for _, p_ in per_seed],
                     "r": [r_ for r_, _ in overall], "p": [p_ for _, p_ in overall],
                     "pooled_r_late_half": r, "pooled_p_late_half": p, "pooled_df": df}
    return out


def seed_table(result) -> pd.DataFrame:
    """One row per seed: its training subset, whether the main path converged before the later half, the later-half
    correlation and the share of converged subpaths."""
    corr = decay_correlations(result)["test"]
    conv = subpath_converged(result)
    late = later_half(result)
    during = main_over_later_half(result)
    rows = []
    for i, m in enumerate(main_convergence(result)):
        rows.append({"seed": m["seed"], "training subset": int(result["subset_seeds"][i]),
                     f"main train loss {m['window'][0]}–{m['window'][1]} (halves)":
                         f"{m['before']:.4f} → {m['after']:.4f}",
                     "main converged": "yes" if m["converged"] else "no",
                     "main train loss, later half (first → last 50 epochs)":
                         f"{during[i][0]:.4f} → {during[i][1]:.4f}",
                     "subpaths converged, later half": f"{int(conv[i, late].sum())}/{int(late.sum())}",
                     "subpaths converged, all": f"{int(conv[i].sum())}/{conv.shape[1]}",
                     "r, later half": round(corr["r_late_half"][i], 3), "p": float(f"{corr['p_late_half'][i]:.2g}"),
                     "r, all decay epochs": round(corr["r"][i], 3)})
    return pd.DataFrame(rows)


def decay_table(result) -> pd.DataFrame:
    """One row per decay epoch: each seed's final held-out test loss (readout), marked * where the subpath had not
    converged, and the seeds' mean."""
    final = final_values(result, "test_loss")
    conv = subpath_converged(result)
    late = later_half(result)
    rows = []
    for j, e in enumerate(result["sub_decay_epochs"].tolist()):
        row = {"decay epoch": e, "half": "later" if late[j] else "earlier"}
        for i, seed in enumerate(result["seeds"].tolist()):
            row[f"seed {seed}"] = f"{final[i, j]:.4f}" + ("" if conv[i, j] else " *")
        row["mean"] = f"{final[:, j].mean():.4f}"
        rows.append(row)
    return pd.DataFrame(rows)


def cpu_seconds(result) -> float:
    """The run's CPU time, all seeds together (the units' single-thread CPU seconds from the provenance; their wall
    time is longer where they waited for a shared core)."""
    return float(sum(result.provenance["units"]["cpu_time_s"]))


# ---- the main path on the PCA landscape of each seed
VALLEY_QUANTILE = 0.2  # "in the train-loss valley": surface train loss below the grid's 20th percentile
TEST_MIN_QUANTILE = 0.1  # "near the test minimum": surface test loss within the grid's lowest 10 %


def landscape_seeds(result) -> list[int]:
    """The seeds whose PCA landscape is stored (every seed since v3; a result without `landscape_seeds` holds one,
    the first seed's)."""
    return [int(s) for s in result["landscape_seeds"]] if "landscape_seeds" in result else [int(result["seeds"][0])]


def landscape_of(result, index: int = 0) -> dict:
    """The arrays of the `index`-th stored PCA landscape, with the result's epochs: what the readers and the figure
    take."""
    stacked = "landscape_seeds" in result
    out = {k: (np.asarray(result[k])[index] if stacked else np.asarray(result[k])) for k in LANDSCAPE_ARRAYS
           if k in result}
    for k in ("main_snapshot_epochs", "sub_decay_epochs"):
        out[k] = np.asarray(result[k])
    out["seed"] = landscape_seeds(result)[index]
    return out


def path_landscape(result, index: int = 0) -> dict:
    """The first seed's main path on its PCA surface, after the first decay epoch (its *entry*: the path is fitted
    by then), against two nulls: the same path before the entry (is the train-valley share trivially high?) and the
    small-rate path that branches off at the entry (the first subpath: does a path at the decayed rate also near the
    test minimum?). Distances are in the PCA plane to the grid point of lowest surface test loss; `approach_*` is the
    share of the entry's distance closed, by the large-rate path over as many epochs as the small-rate one trains
    (`approach_large`) and by its end (`approach_large_end`), and by the small-rate path (`approach_small`)."""
    result = landscape_of(result, index)
    x1, x2 = result["grid_x1"], result["grid_x2"]
    grid_train, grid_test = result["grid_train_loss"], result["grid_test_loss"]
    coords = result["main_coords"]
    epochs = result["main_snapshot_epochs"]
    decays = result["sub_decay_epochs"]
    late = epochs >= decays[0]
    train_on_path = nearest_grid_values(grid_train, x1, x2, coords)
    test_on_path = nearest_grid_values(grid_test, x1, x2, coords)
    valley_level = float(np.quantile(grid_train, VALLEY_QUANTILE))
    test_level = float(np.quantile(grid_test, TEST_MIN_QUANTILE))
    entry = int(np.argmax(late))
    i2, i1 = np.unravel_index(np.argmin(grid_test), grid_test.shape)
    test_min = np.array([x1[i1], x2[i2]])
    distance = lambda c: np.linalg.norm(np.atleast_2d(c)[:, :2] - test_min, axis=1)
    small = result["sub_coords"][0]  # the small-rate path from the entry, one snapshot per snapshot_every epochs
    same_time = min(entry + len(small), len(coords) - 1)  # the large-rate path as many snapshots after the entry
    d_entry = float(distance(coords[entry])[0])
    closed = lambda c: float(1 - distance(c)[0] / d_entry) if d_entry > 0 else 0.0
    return {
        "in_valley_fraction": float((train_on_path[late] <= valley_level).mean()),
        "early_in_valley_fraction": float((train_on_path[~late] <= valley_level).mean()) if (~late).any() else 0.0,
        "valley_level": valley_level, "test_level": test_level,
        "test_at_entry": float(test_on_path[entry]), "test_at_end": float(test_on_path[-1]),
        "test_at_small_rate_end": float(nearest_grid_values(grid_test, x1, x2, small[-1:])[0]),
        "distance_to_test_min_at_entry": d_entry,
        "distance_to_test_min_at_end": float(distance(coords[-1])[0]),
        "distance_to_test_min_small_rate_end": float(distance(small[-1])[0]),
        "approach_large": closed(coords[same_time]), "approach_large_end": closed(coords[-1]),
        "approach_small": closed(small[-1]), "same_time_epochs": int(epochs[same_time] - epochs[entry]),
        "entry_epoch": int(epochs[entry]), "grid_test_min": float(grid_test.min()), "seed": result["seed"],
    }
