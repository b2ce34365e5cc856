"""Reading the capacity sweep's `select` preset: each loss's learning rate, picked on the selection runs."""

from __future__ import annotations

import pandas as pd

from ..sweeps.analysis import selection_frame

FAMILIES = ("CE", "DCE")  # plain cross-entropy (A = 1) and the dynamical cross-entropy (A > 1)


def lr_scores(select_result) -> dict[str, dict[float, float | None]]:
    """{family: {η: score}} on the selection runs: per width the run-mean validation accuracy (for DCE, that of its
    best (A, T) at this η), then the mean over the widths; None where a selection run of the family diverged at
    some width (that η is out)."""
    frame = selection_frame(select_result)
    frame = frame.assign(family=frame.amplitude.gt(1).map({False: "CE", True: "DCE"}))
    scores: dict[str, dict[float, float | None]] = {}
    for family in FAMILIES:
        at = frame[frame.family == family]
        scores[family] = {}
        for lr, g in at.groupby("lr", sort=True):
            per_width = g.groupby(["width", "setting"]).validation_accuracy.mean().groupby("width").max()
            scores[family][float(lr)] = None if g.diverged.any() else float(per_width.mean())
    return scores


def select_lrs(select_result) -> dict[str, float]:
    """{family: η}: each loss's learning rate, by a rule fixed before the selection runs ran — the highest
    `lr_scores` among the η at which none of the family's runs diverged; a tie goes to the smaller η. One η per loss
    for every width (the sweep trains each setting at every width). ValueError when every η diverged somewhere."""
    picked = {}
    for family, scores in lr_scores(select_result).items():
        valid = {lr: s for lr, s in scores.items() if s is not None}
        if not valid:
            raise ValueError(f"{family}: a selection run diverged at every learning rate {sorted(scores)}")
        best = max(valid.values())
        picked[family] = min(lr for lr, s in valid.items() if s == best)
    return picked


def lr_table(select_result) -> pd.DataFrame:
    """One row per η of the `select` preset: per loss its `lr_scores` score (the number the pick compares; "diverged"
    where a run diverged) and how many of its selection runs diverged, the picked η marked."""
    frame = selection_frame(select_result)
    frame = frame.assign(family=frame.amplitude.gt(1).map({False: "CE", True: "DCE"}))
    scores, picked = lr_scores(select_result), select_lrs(select_result)
    rows = []
    for lr in sorted({float(v) for v in frame.lr}):
        row = {"η": f"{lr:g}"}
        for family in FAMILIES:
            score = scores[family][lr]
            mark = " (picked)" if picked[family] == lr else ""
            row[f"{family}: val. acc."] = ("diverged" if score is None else f"{score:.3f}") + mark
            at = frame[(frame.family == family) & (frame.lr == lr)]
            row[f"{family}: runs diverged"] = f"{int(at.diverged.sum())} of {len(at)}"
        rows.append(row)
    return pd.DataFrame(rows)
