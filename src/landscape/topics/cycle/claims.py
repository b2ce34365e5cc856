"""Claim of the cycle chapter (ICML 2021 claim 4), from the stored `cycle` result; it returns (status, ours, values,
reason)."""

from __future__ import annotations

import numpy as np

from ...scorecard import claim, verdict

MIN_RATIO = 1.2  # the middle of the period counts as wider when it is ≥ 20 % flatter (or wider) than both ends


def _phases(result):
    config = result.typed_config
    tau = (result["snapshot_steps"] - config.start_step) / config.run.period
    middle = (tau >= 0.25) & (tau <= 0.75)
    return tau, middle


def widen_then_narrow(values, middle, wider_is_smaller: bool, min_ratio: float = MIN_RATIO):
    """(passed, middle value, ratio): the middle of the period is wider (smaller curvature / larger width) than both
    ends by at least `min_ratio` (ratio: the smaller of the two end-to-middle ratios, > 1 where the middle is wider)."""
    v = np.asarray(values, dtype=np.float64)
    best = v[middle].min() if wider_is_smaller else v[middle].max()
    ends = np.array([v[0], v[-1]])
    ratio = float((ends / best).min() if wider_is_smaller else (best / ends).min())
    return bool(ratio >= min_ratio), float(best), ratio


@claim("dl.cycle.valleys_widen_then_narrow", kind="paper", title="Within a cycle the valley widens, then narrows",
       chapter="cycle", needs=("cycle",),
       paper="During a cycle the valleys widen (and deepen), then narrow (and rise); when a valley narrows the "
             "learning rate becomes too large and the network is pushed elsewhere",
       source="ICML 2021 abstract, claim 4; Sec. 5 and Fig. 4 (λ_max panel)",
       criterion="over the snapshots of one period of the Fig. 4 run: the Hessian λ_max, the Hessian trace and the "
                 "width of the valley along the top eigenvector are all wider in the middle of the period "
                 f"(τ ∈ [T/4, 3T/4]: smallest λ_max and trace, largest width) by ≥ {MIN_RATIO}× than at both its "
                 "start and its end; all three → reproduced, some → partly (one period of one run: period 2, the "
                 "paper's zoom)")
def valleys_widen_then_narrow(result):
    tau, middle = _phases(result)
    checks = {
        "λ_max": (result["hessian_max"], True),
        "trace": (result["trace_exact"], True),
        "width along the top eigenvector": (result["width_top"], False),
    }
    ok, parts, values, ratios = [], [], {}, []
    for name, (v, smaller) in checks.items():
        passed, best, ratio = widen_then_narrow(v, middle, smaller)
        ok.append(passed)
        ratios.append(ratio)
        parts.append(f"{name} {v[0]:.3g} → {best:.3g} (middle) → {v[-1]:.3g}")
        values[name] = {"start": float(v[0]), "middle": best, "end": float(v[-1]), "passed": passed, "ratio": ratio}
    F = result["snapshot_objective"]
    deepest = float(F[middle].min())
    parts.append(f"depth: F {F[0]:.3g} → {deepest:.3g} → {F[-1]:.3g}")
    values["objective"] = {"start": float(F[0]), "middle": deepest, "end": float(F[-1])}
    status = verdict(all(ok), any(ok))
    period = result.typed_config.period_index + 1
    reason = (f"period {period}, one run: mid-period flatter than both ends by {ratios[0]:.1f}× (λ_max), "
              f"{ratios[1]:.1f}× (trace), wider by {ratios[2]:.2f}× (width); counts from {MIN_RATIO}×")
    return status, "; ".join(parts), values, reason
