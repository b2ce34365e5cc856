"""A setting of a dynamical-loss sweep, (loss, amplitude A, period T, learning rate η), and its label. Imported by
the sweeps that run them and by the readers of their results (analysis, claims, plotting) alike; it imports nothing.

A `Setting` is a tuple: equal to, hashed like and stored in JSON as the plain (loss, A, T, η) list, so stored keys do
not depend on it.
"""

from __future__ import annotations

from typing import NamedTuple


class Setting(NamedTuple):
    loss: str
    amplitude: float
    period: int
    lr: float


def setting_label(setting) -> str:
    """"CE η=1", "DCE A=70 T=500 η=1", "MSE η=0.5", "DMSE2 A=5 T=100 η=0.5" (A = 1 is the static loss)."""
    loss, A, T, lr = setting
    static = {"dce": "CE", "dmse1": "MSE", "dmse2": "MSE"}[loss]
    name = static if A == 1 else {"dce": "DCE", "dmse1": "DMSE1", "dmse2": "DMSE2"}[loss]
    return name + ("" if A == 1 else f" A={A:g} T={T}") + f" η={lr:g}"
