"""The scorecard's picture: every claim with a quantitative read-out as its effect and interval against the smallest
effect that would count as the paper's (a forest plot), coloured by status — drawn from the claims' `values`
(`claims --json` carries the same numbers)."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

STATUS_COLORS = {"reproduced": "#1a7f37", "partly": "#b35900", "inconclusive": "#6f42c1",
                 "not reproduced": "#c0392b", "baseline invalid": "#57606a", "not testable": "#6e7781"}


def claim_effects(claims) -> list[tuple]:
    """(claim, label, effect) for every read-out a claim states as an effect with an interval: `values["effect"]`
    (one) or `values["effects"]` (a list, each with its own "label"); an effect is a dict with "estimate", "lower",
    "upper", "threshold" (the smallest effect that counts, > 0) and "unit"."""
    out = []
    for c in claims:
        effects = c.values.get("effects") or ([c.values["effect"]] if "effect" in c.values else [])
        for e in effects:
            if all(np.isfinite([e["estimate"], e["lower"], e["upper"]])) and e["threshold"] > 0:
                out.append((c, e.get("label", ""), e))
    return out


def plot_verdicts(claims, ax=None, wrap: int = 46):
    """One row per effect of the claims that state one: the estimate and its interval in units of the smallest
    effect that counts (0: no effect, 1: the smallest effect of the paper's size), coloured by the claim's status."""
    rows = claim_effects(claims)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.6, 0.55 * max(len(rows), 1) + 1.2))
    if not rows:
        ax.text(0.5, 0.5, "no claim with a quantitative read-out", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax.figure
    for y, (c, label, e) in enumerate(rows):
        t = e["threshold"]
        color = STATUS_COLORS[c.status]
        ax.plot([e["lower"] / t, e["upper"] / t], [y, y], color=color, lw=2.2, solid_capstyle="butt")
        ax.plot(e["estimate"] / t, y, "o", color=color, ms=6)
    ax.axvline(0, color="0.3", lw=1)
    ax.axvline(1, color="0.3", lw=1, ls="--")
    names = [textwrap.shorten(c.title + (f" ({label})" if label else ""), wrap * 2, placeholder="…") for c, label, _
             in rows]
    ax.set_yticks(range(len(rows)), ["\n".join(textwrap.wrap(n, wrap)) for n in names], fontsize=9)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=2, linscale=1.5)  # 0 … 2 linear (where verdicts are decided), then log
    low = min(min(e["lower"] / e["threshold"] for _, _, e in rows), -1.0)
    high = max(max(e["upper"] / e["threshold"] for _, _, e in rows), 2.0)
    ax.set_xlim(low * 1.4 if low < -2 else low - 0.5, high * 1.4 if high > 2 else high + 0.5)
    ticks = [t for t in (-10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 50, 100) if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("effect ÷ smallest effect that counts\n(0: no effect; dashed: the paper's size)")
    handles = [plt.Line2D([], [], color=STATUS_COLORS[s], marker="o", lw=2, label=s)
               for s in STATUS_COLORS if any(c.status == s for c, _, _ in rows)]
    ax.legend(handles=handles, fontsize=9, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles),
              frameon=False)
    ax.figure.tight_layout()
    return ax.figure
