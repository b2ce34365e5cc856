"""Full-batch gradient descent: one training loop for ensembles of E same-shaped networks and for single runs.

At each step t = 0 … steps the loop evaluates every member's θ_t on the whole training set — the objective
F(θ_t, t), its static counterpart (A = 1), the training accuracy, the evaluation sets and the probes due at t — then
(for t < steps) takes the step θ_{t+1} = θ_t − η ∇_θ F(θ_t, t). A member whose objective turns non-finite is recorded
as diverged at that step; its later values are NaN, the others go on, and the loop stops once every member has
diverged. Interrupted runs resume from a `runtime.Checkpoint`.

`descend(model, data, gamma_at, Descent(...))` is the loop, its options one dataclass; `train_full_batch` runs one
`nn.Module` through it as an ensemble of one (`members.ModuleEnsemble`), `ensemble.train_ensemble` runs batched
ensembles (`ensemble.EnsembleMLP`, `ensemble.EnsembleMyrtle`). Measurements along the way are callbacks: `Probe`s
(`fn(model, step)`, on their own schedule: the Hessian's λ_max `ensemble.hessian_probe`, the NTK's in the spiral
runs) and `Recorder`s (`fn(step, objective, logits, model)`, at the recorded steps, from the values the step has
already computed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .data import Dataset
from .losses import LOSSES
# EnsembleModel and evaluate are imported from here by the tests and the ensembles too
from .members import EnsembleModel, ModuleEnsemble, _describe_set, check_model_fits, evaluate, predictions  # noqa: F401
from .runtime import Checkpoint
from .validation import ConfigError, require, require_choice, require_finite, require_int

CHECKPOINT_FORMAT = 2  # version of the state `descend` checkpoints; other versions are ignored (the run restarts)
SYNC_EVERY = 100  # steps between the host's looks at divergence when no probe is due (a look syncs the device)
NAN = float("nan")


@dataclass
class Probe:
    """A measurement `fn(model, step)` taken every `every` steps (and at the last step): a float for one network
    (`train_full_batch`, where `model` is the nn.Module), an array (E,) of per-member values for an ensemble."""

    name: str
    every: int
    fn: Callable

    def __post_init__(self):
        require_int("every", self.every, at_least=1)
        require(callable(self.fn), "fn", "a callable fn(model, step)", self.fn)

    def due(self, step: int, last: int) -> bool:
        return step % self.every == 0 or step == last


@dataclass
class Recorder:
    """A value kept with the curves, at every recorded step: `fn(step, objective, logits, model)` → (E,) per-member
    values (a tensor or an array), from the step's objective (E,) and logits (E, P, C) before the step is taken —
    no extra pass over the data; `model` as for a `Probe`. Members that have diverged get NaN."""

    name: str
    fn: Callable

    def __post_init__(self):
        require(callable(self.fn), "fn", "a callable fn(step, objective, logits, model)", self.fn)


def require_distinct_names(probes) -> None:
    names = [p.name for p in probes]
    require(len(set(names)) == len(names), "probes", "probes with distinct names", names)


def _lr_tensor(lr, E, dtype, device) -> torch.Tensor:
    allowed = f"a number > 0 or a sequence of {E} such numbers (one per member)"
    try:
        values = np.asarray(lr, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"lr={lr!r} is not allowed: lr must be {allowed}") from None
    require(values.ndim == 0 or values.shape == (E,), "lr", allowed, lr)
    values = np.broadcast_to(values, (E,))
    for v in values:
        require_finite("lr", float(v), positive=True)
    return torch.as_tensor(values.copy(), dtype=dtype, device=device)


class _NoBar:
    n = 0

    def update(self, n):
        self.n += n

    def close(self):
        pass


def _progress_bar(total: int, initial: int, description: str, progress: bool):
    """tqdm's bar when progress is asked for (tqdm is imported then: the library itself needs torch and numpy only)."""
    if not progress:
        bar = _NoBar()
        bar.n = initial
        return bar
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=description, mininterval=1.0)


# ------------------------------------------------------------------------------------------------- the loop
@dataclass
class EnsembleLog:
    """Per-member curves. Arrays are (records, E) at `steps`; `diverged_at[e]` = −1 for members that never did."""

    steps: np.ndarray
    objective: np.ndarray  # the dynamical objective at t (before the step)
    static_loss: np.ndarray  # its static counterpart (A = 1): CE for "dce", MSE for "dmse1"/"dmse2"
    accuracy: np.ndarray  # training accuracy
    evals: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # set → {"loss", "accuracy"}: (records, E)
    probes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name → (steps, (n, E))
    recorded: dict[str, np.ndarray] = field(default_factory=dict)  # recorder name → (records, E)
    diverged_at: np.ndarray = None
    final_state: list[torch.Tensor] | None = None
    early_objective: np.ndarray | None = None  # (early_steps + 1, E): the objective at every step t ≤ early_steps

    @property
    def final_accuracy(self) -> np.ndarray:
        return self.accuracy[-1]

    def arrays(self) -> dict[str, np.ndarray]:
        """The log as named arrays, as the sweeps store them: (records, E) curves ("train_objective", "train_loss",
        "train_accuracy", f"{set}_loss", f"{set}_accuracy", each recorder's), "steps", "diverged_at", each probe's
        values and its f"{name}_steps", and "early_objective" when kept."""
        out = {"steps": self.steps, "train_objective": self.objective, "train_loss": self.static_loss,
               "train_accuracy": self.accuracy, "diverged_at": self.diverged_at}
        for name, d in self.evals.items():
            out[f"{name}_loss"], out[f"{name}_accuracy"] = d["loss"], d["accuracy"]
        for name, (steps, values) in self.probes.items():
            out[f"{name}_steps"], out[name] = steps, values
        out.update(self.recorded)
        if self.early_objective is not None:
            out["early_objective"] = self.early_objective
        return out


@dataclass(frozen=True)
class Descent:
    """The options of `descend`, and so of every trainer (`train_ensemble(model, data, schedules=…, **options)`).

    steps: GD steps (t = 0 … steps are evaluated); loss: one of LOSSES; lr: η, one number or one per member;
    record_every: keep the curves at t % record_every == 0 and the last step, and evaluate every set of
    `eval_sets` there; probes: `Probe`s, callbacks `fn(model, step)` each on its own schedule; recorders:
    `Recorder`s, callbacks `fn(step, objective, logits, model)` kept with the curves; early_steps: also keep the objective at every
    step t ≤ early_steps (the drift check's anchor for chaotic float32 runs); keep_final_state: return the final
    parameters; checkpoint: a `runtime.Checkpoint` to resume from and save to; progress, description: the bar.
    """

    steps: int
    loss: str = "dce"
    lr: float | Sequence[float] = 1.0
    record_every: int = 1
    eval_sets: dict[str, Dataset] | None = None
    probes: Sequence[Probe] = ()
    recorders: Sequence[Recorder] = ()
    early_steps: int = 0
    keep_final_state: bool = False
    checkpoint: Checkpoint | None = None
    progress: bool = False
    description: str = "training"

    def __post_init__(self):
        require_choice("loss", self.loss, LOSSES)
        require_int("steps", self.steps, at_least=0)
        require_int("record_every", self.record_every, at_least=1)
        require_int("early_steps", self.early_steps, at_least=0)
        require_distinct_names(list(self.probes) + list(self.recorders))
        for r in self.recorders:
            require(isinstance(r, Recorder), "recorders", "Recorder(name, fn)", type(r).__name__)


class _Records:
    """What `descend` keeps on the device — the curves at the recorded steps, the evaluation sets, the recorders',
    the probes, the early objective, each member's first non-finite step — and their checkpointed state."""

    def __init__(self, o: Descent, E: int, device):
        self.steps = [t for t in range(o.steps + 1) if t % o.record_every == 0 or t == o.steps]
        self.row_of = {t: i for i, t in enumerate(self.steps)}
        R, f64 = len(self.steps), dict(dtype=torch.float64, device=device)
        self.E, self.early_steps = E, o.early_steps
        self.objective, self.static, self.accuracy = (torch.full((R, E), NAN, **f64) for _ in range(3))
        self.evals = {k: {"loss": torch.full((R, E), NAN, **f64), "accuracy": torch.full((R, E), NAN, **f64)}
                      for k in (o.eval_sets or {})}
        self.recorded = {r.name: torch.full((R, E), NAN, **f64) for r in o.recorders}
        self.probes: dict[str, dict[int, torch.Tensor]] = {p.name: {} for p in o.probes}
        self.early = torch.full((min(o.early_steps, o.steps) + 1 if o.early_steps else 0, E), NAN, **f64)
        self.first_bad = torch.full((E,), -1, dtype=torch.int64, device=device)

    def restore(self, state, model: EnsembleModel) -> int:
        """The step to start from: 0, or the next step of a checkpoint of this run (model and records restored)."""
        if state is None or state.get("format") != CHECKPOINT_FORMAT or state.get("records") != len(self.steps) \
                or state.get("members") != self.E or set(state.get("recorded", {})) != set(self.recorded):
            return 0
        model.load_state(state["params"])
        for mine, saved in ((self.objective, "objective"), (self.static, "static"), (self.accuracy, "accuracy"),
                            (self.first_bad, "first_bad"), (self.early, "early")):
            mine.copy_(state[saved])
        for k, d in self.evals.items():
            d["loss"].copy_(state["evals"][k]["loss"]), d["accuracy"].copy_(state["evals"][k]["accuracy"])
        for k, v in self.recorded.items():
            v.copy_(state["recorded"][k])
        self.probes = {k: {int(s): v.clone() for s, v in d.items()} for k, d in state["probes"].items()}
        return int(state["next_step"])

    def state(self, model: EnsembleModel, next_step: int) -> dict:
        return {"format": CHECKPOINT_FORMAT, "params": model.state(), "objective": self.objective,
                "static": self.static, "accuracy": self.accuracy, "evals": self.evals, "probes": self.probes,
                "recorded": self.recorded, "first_bad": self.first_bad, "early": self.early, "next_step": next_step,
                "records": len(self.steps), "members": self.E}

    def record(self, t, obj, stat, logits, data: Dataset, model: EnsembleModel, o: Descent) -> None:
        """The values of θ_t due at t (members that have diverged: NaN)."""
        alive = self.first_bad < 0
        if t < len(self.early):
            self.early[t] = obj.to(torch.float64)
        r = self.row_of.get(t)
        if r is None:
            return
        self.objective[r] = torch.where(alive, obj.to(torch.float64), NAN)
        self.static[r] = torch.where(alive, stat.to(torch.float64), NAN)
        self.accuracy[r] = torch.where(alive, (predictions(logits) == data.y).to(torch.float64).mean(-1), NAN)
        for k, other in (o.eval_sets or {}).items():
            loss, accuracy = evaluate(model, other, o.loss)
            self.evals[k]["loss"][r] = torch.where(alive, loss, NAN)
            self.evals[k]["accuracy"][r] = torch.where(alive, accuracy, NAN)
        for rec in o.recorders:
            value = torch.as_tensor(rec.fn(t, obj, logits, model.probe_target()))
            self.recorded[rec.name][r] = torch.where(alive, value.detach().to(alive.device, torch.float64).reshape(
                self.E), NAN)

    def log(self, final_state) -> EnsembleLog:
        diverged = self.first_bad.cpu().numpy()
        probes = {}
        for name, d in self.probes.items():
            s = np.array(sorted(d), dtype=np.int64)
            v = np.stack([d[k].reshape(self.E).numpy() for k in s]) if len(s) else np.zeros((0, self.E))
            for e in range(self.E):  # NaN from the divergence on
                if diverged[e] >= 0:
                    v[s >= diverged[e], e] = np.nan
            probes[name] = (s, v)
        return EnsembleLog(
            steps=np.array(self.steps, dtype=np.int64), objective=self.objective.cpu().numpy(),
            static_loss=self.static.cpu().numpy(), accuracy=self.accuracy.cpu().numpy(),
            evals={k: {m: v.cpu().numpy() for m, v in d.items()} for k, d in self.evals.items()},
            probes=probes, recorded={k: v.cpu().numpy() for k, v in self.recorded.items()},
            diverged_at=diverged, final_state=final_state,
            early_objective=self.early.cpu().numpy() if self.early_steps else None)


def _check_eval_sets(data: Dataset, eval_sets) -> None:
    x = data.x
    for name, other in (eval_sets or {}).items():
        require(isinstance(other, Dataset) and other.num_classes == data.num_classes
                and other.x.shape[1:] == x.shape[1:] and other.x.dtype == x.dtype and other.x.device == x.device,
                f"eval_sets[{name!r}]", f"a Dataset like the training data ({data.num_classes} classes, samples of "
                f"shape {tuple(x.shape[1:])}, {x.dtype}, on {x.device})", _describe_set(other))


def descend(model: EnsembleModel, data: Dataset, gamma_at: Callable[[int], torch.Tensor],
            options: Descent) -> EnsembleLog:
    """Full-batch GD of every member on its own objective: θ_e ← θ_e − η_e ∇ F_e(θ_e, t), as `options` says.

    gamma_at(t): Γ(t) of every member, shape (E, C), on the data's device. At each step the objective is checked
    on the device (no sync); the host looks at divergence only where a probe is due, every SYNC_EVERY steps and at
    the end.
    """
    o = options
    E, x, y, steps = model.size, data.x, data.y, o.steps
    check_model_fits(model, model.params, data, (E, 1, data.num_classes))
    _check_eval_sets(data, o.eval_sets)
    lr_t = _lr_tensor(o.lr, E, x.dtype, x.device)
    uniform_lr, lr0 = bool((lr_t == lr_t[0]).all()), float(lr_t[0])
    lr_views = [lr_t.view(E, *([1] * (p.dim() - 1))) for p in model.params]
    records = _Records(o, E, x.device)
    start = records.restore(o.checkpoint.load() if o.checkpoint else None, model)
    params, target = model.params, model.probe_target()
    bar = _progress_bar(steps + 1, start, o.description, o.progress)
    for t in range(start, steps + 1):
        obj, stat, logits, grads = model.loss_and_grad(x, y, gamma_at(t), o.loss)
        records.first_bad = torch.where(~torch.isfinite(obj) & (records.first_bad < 0), t, records.first_bad)
        due = [probe for probe in o.probes if probe.due(t, steps)]
        if (due or t % SYNC_EVERY == 0 or t == steps) and bool((records.first_bad >= 0).all()):
            break  # every member has diverged
        records.record(t, obj, stat, logits, data, model, o)
        for probe in due:
            records.probes[probe.name][t] = torch.as_tensor(probe.fn(target, t)).detach().to("cpu", torch.float64)
        if t < steps:
            with torch.no_grad():
                if uniform_lr:
                    torch._foreach_add_(params, grads, alpha=-lr0)
                else:
                    torch._foreach_sub_(params, torch._foreach_mul(grads, lr_views))
        if t % SYNC_EVERY == 0 or t == steps:
            bar.update(t + 1 - bar.n)
            if o.checkpoint is not None and o.checkpoint.due() and t < steps:
                o.checkpoint.save(records.state(model, t + 1))
    bar.close()
    return records.log(model.state() if o.keep_final_state else None)


# ---------------------------------------------------------------------------------------------- single runs
@dataclass
class TrainingLog:
    objective: np.ndarray  # F(θ_t, t), t = 0 … steps (shorter if diverged)
    cross_entropy: np.ndarray  # L(θ_t)
    accuracy: np.ndarray  # training accuracy of θ_t
    probes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name → (steps, values)
    diverged_at: int | None = None


def train_full_batch(model: nn.Module, data: Dataset, gamma: torch.Tensor | np.ndarray | None, lr: float, steps: int,
                     probes: list[Probe] = (), *, checkpoint: Checkpoint | None = None, progress: bool = False,
                     description: str = "training", loss: str = "dce") -> TrainingLog:
    """Full-batch GD of one network on a dynamical loss (`loss`, one of LOSSES; by default the dynamical
    cross-entropy −(1/P) Σ_μ Γ_{y_μ} log p_{y_μ}): `descend` on an ensemble of one. A non-finite objective stops the
    run; the curves end before it (`diverged_at`); `cross_entropy` holds the static loss (A = 1) of `loss`.

    gamma: Γ(t) for t = 0 … steps, shape (steps + 1, C); None for the plain loss (Γ ≡ 1).
    """
    require_finite("lr", lr, positive=True)
    require_int("steps", steps, at_least=0)
    require(isinstance(model, nn.Module), "model", "a torch.nn.Module", type(model).__name__)
    members = ModuleEnsemble(model)
    C, device = data.num_classes, data.x.device
    if gamma is None:
        gamma = torch.ones(steps + 1, C)
    gamma = torch.as_tensor(np.asarray(gamma), dtype=data.x.dtype, device=device)
    require(gamma.shape == (steps + 1, C), "gamma", f"of shape (steps + 1, C) = ({steps + 1}, {C})",
            tuple(gamma.shape))
    require(bool(torch.isfinite(gamma).all()), "gamma", "finite", "non-finite values")
    log = descend(members, data, lambda t: gamma[t][None], Descent(steps, loss, lr, probes=probes,
                                                                     checkpoint=checkpoint, progress=progress,
                                                                     description=description))
    diverged_at = int(log.diverged_at[0])
    end = steps + 1 if diverged_at < 0 else diverged_at
    return TrainingLog(
        objective=log.objective[:end, 0], cross_entropy=log.static_loss[:end, 0], accuracy=log.accuracy[:end, 0],
        probes={k: (s[s < end], v[s < end, 0]) for k, (s, v) in log.probes.items()},
        diverged_at=None if diverged_at < 0 else diverged_at)
