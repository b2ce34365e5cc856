"""Reading the stored `lrd_toy_decay` result: pick a (γ, noise) slice, the main path, windows of a curve.

Arrays of the result are indexed (seed, γ, noise, T₁[, step | coordinate]); see `experiments.lrd_toy.run_decay`.
"""

from __future__ import annotations

import numpy as np


def index(result, gamma: float, noise: str) -> tuple[int, int]:
    """(γ index, noise index) in a decay result; KeyError naming what is stored when absent."""
    gammas, noises = list(result["gammas"]), [str(z) for z in result["noises"]]
    if float(gamma) not in gammas or noise not in noises:
        raise KeyError(f"(gamma={gamma}, noise={noise!r}) is not stored: gammas {gammas}, noises {noises}")
    return gammas.index(float(gamma)), noises.index(noise)


def final(result, quantity: str, gamma: float, noise: str) -> np.ndarray:
    """final_<quantity> after the GD polish, shape (seeds, T₁)."""
    g, z = index(result, gamma, noise)
    return result[f"final_{quantity}"][:, g, z, :]


def main_path(result, quantity: str, gamma: float, noise: str) -> tuple[np.ndarray, np.ndarray]:
    """The longest large-LR run (T₁ = max) up to its decay: (steps (L,), values (seeds, L)) of <quantity>_curve."""
    g, z = index(result, gamma, noise)
    t1 = int(result["decay_steps"][-1])
    steps = result["log_steps"]
    keep = steps <= t1
    return steps[keep], result[f"{quantity}_curve"][:, g, z, -1, keep]


def window_mean(steps: np.ndarray, values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mean over logged steps in [lo, hi) along the last axis."""
    mask = (steps >= lo) & (steps < hi)
    return values[..., mask].mean(-1)
