"""Named experiments: a validated config type, presets ("smoke" for CI, "full" for the book), a run function and a
drift check.

`run(config, *, device, progress, checkpoint) -> (arrays, summary)` computes a result; `replay(config, result, *,
device) -> list[Comparison]` recomputes the first steps of a stored result so a test can compare them with what is
stored. Bump `version` whenever a code change alters what `run` produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..validation import require_choice


@dataclass
class Comparison:
    """A stored array next to its recomputation, with the tolerance they must agree to."""

    name: str
    stored: np.ndarray
    recomputed: np.ndarray
    rtol: float = 1e-6
    atol: float = 1e-9


@dataclass(frozen=True)
class Experiment:
    name: str
    version: int
    title: str
    chapter: str
    config_type: type
    presets: dict[str, Any]
    run: Callable
    replay: Callable
    description: str = ""
    tags: tuple = field(default_factory=tuple)

    def preset(self, name: str):
        require_choice("preset", name, tuple(self.presets))
        return self.presets[name]


REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    REGISTRY[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    _load_all()
    require_choice("experiment", name, tuple(sorted(REGISTRY)))
    return REGISTRY[name]


def all_experiments() -> list[Experiment]:
    _load_all()
    return [REGISTRY[k] for k in sorted(REGISTRY)]


def _load_all() -> None:
    from . import spiral  # noqa: F401  (registers on import)
