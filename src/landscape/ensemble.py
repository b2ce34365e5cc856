"""Batched ensembles: many same-shaped small networks trained together by full-batch gradient descent.

An ensemble of E members keeps every parameter as one tensor with a leading member axis, runs the members' forward
passes as batched matrix products (`torch.baddbmm`) or grouped convolutions, and takes one autograd pass through
the sum of the members' losses — the members are independent, so the gradient of the sum with respect to member
e's parameters is the gradient of member e's own loss. Each member can have its own Γ schedule (amplitude, period),
its own learning rate and its own seed; member e started from seed s follows the trajectory of the single-model
trainer `training.train_full_batch` from the same seed (tested to float tolerance).

Losses (`LOSSES`), for logits z, one-hot targets y and class weights Γ(t):
- "dce":   −(1/P) Σ_μ Γ_{y_μ} log softmax(z_μ)_{y_μ}         (A = 1: cross-entropy)
- "dmse1": (1/P) Σ_μ Γ_{y_μ} Σ_k (z_μk − y_μk)²               (A = 1: MSE)
- "dmse2": (1/P) Σ_μ Σ_k Γ_k (z_μk − y_μk)²                   (A = 1: MSE)
The two MSE forms are the book's reading of Lavin & Ruiz-Garcia (2024); see `losses.py`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import Dataset
from .losses import LOSSES, GammaSchedule, per_member_losses
from .models import MLP
from .runtime import Checkpoint
from .training import Probe, check_model_fits, require_distinct_names
from .validation import ConfigError, require, require_choice, require_finite, require_int


def _seeds(seeds) -> list[int]:
    """A non-empty sequence of integer seeds >= 0 (numpy integers too), as Python ints."""
    require(isinstance(seeds, (Sequence, np.ndarray)) and len(seeds) > 0, "seeds",
            "a non-empty sequence of integers", seeds)
    for s in seeds:
        ok = isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
        require(ok, "seeds", "a non-empty sequence of integers >= 0", s)
    return [int(s) for s in seeds]


# ----------------------------------------------------------------------------------------------------- models
class EnsembleModel:
    """E same-shaped networks. `params` is a list of tensors whose first axis is the member; `forward(x)` returns
    logits of shape (E, P, C) for inputs x (P, …) shared by all members."""

    params: list[torch.Tensor]

    @property
    def size(self) -> int:
        return self.params[0].shape[0]

    def forward(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        return self.forward(x, params)

    def loss_and_grad(self, x: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor, loss: str):
        """(objective (E,), static loss (E,), logits (E, P, C), gradients of each member's objective).

        Autograd through the sum of the members' objectives; a member whose objective is not finite contributes
        nothing to the sum (so no NaN reaches the others)."""
        logits = self.forward(x)
        obj, stat = per_member_losses(loss, logits, y, gamma)
        total = torch.where(torch.isfinite(obj), obj, torch.zeros_like(obj)).sum()
        grads = torch.autograd.grad(total, self.params)
        return obj.detach(), stat.detach(), logits.detach(), grads

    def num_parameters(self) -> int:
        """Parameters of one member."""
        return sum(p[0].numel() for p in self.params)

    def state(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    def load_state(self, state: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, state):
                p.copy_(s)

    def flat(self, tensors: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Per-member flattening: (E, n)."""
        tensors = self.params if tensors is None else tensors
        return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)

    def unflat(self, v: torch.Tensor) -> list[torch.Tensor]:
        out, i = [], 0
        for p in self.params:
            n = p[0].numel()
            out.append(v[:, i:i + n].reshape(p.shape))
            i += n
        return out


class EnsembleMLP(EnsembleModel):
    """E MLPs in → [width, ReLU] × depth → out, stored as weights[l]: (E, fan_out, fan_in) (nn.Linear's layout) and
    biases[l]: (E, fan_out, 1). Activations are kept as (E, features, P), the fastest layout for the small output
    layer; the training step back-propagates by hand (tested against autograd), which on a CPU is about twice as
    fast as autograd for these shapes. `forward` (used by probes and Hessians) is plain autograd-able torch."""

    def __init__(self, weights: list[torch.Tensor], biases: list[torch.Tensor] | None):
        self.weights = [w.detach().clone().contiguous().requires_grad_(True) for w in weights]
        self.biases = None if biases is None else [b.detach().clone().contiguous().requires_grad_(True)
                                                    for b in biases]
        self.params = [t for pair in zip(self.weights, self.biases or [None] * len(self.weights)) for t in pair
                       if t is not None]
        self._buffers: dict[str, torch.Tensor] = {}

    @classmethod
    def from_models(cls, models: Sequence[MLP]) -> "EnsembleMLP":
        """Stack the Linear layers of same-shaped MLPs (their values are copied)."""
        layers = [m.linears() for m in models]
        weights = [torch.stack([ls[i].weight.detach() for ls in layers]) for i in range(len(layers[0]))]
        has_bias = layers[0][0].bias is not None
        biases = [torch.stack([ls[i].bias.detach().unsqueeze(-1) for ls in layers]) for i in range(len(layers[0]))] \
            if has_bias else None
        return cls(weights, biases)

    @classmethod
    def init(cls, in_features: int, width: int, out_features: int, seeds: Sequence[int], depth: int = 1,
             init: str = "ntk2021", dtype: str = "float64", device=None) -> "EnsembleMLP":
        """Member e is `MLP(..., seed=seeds[e])`, exactly."""
        return cls.from_models([MLP(in_features, width, out_features, depth=depth, init=init, seed=s,
                                    dtype=dtype, device=device) for s in _seeds(seeds)])

    def _layer(self, params, i):
        step = 2 if self.biases is not None else 1
        return params[step * i], (params[step * i + 1] if self.biases is not None else None)

    def _first(self, w, b, xT):
        """The first layer on inputs shared by every member, as one matrix product: (E, out, P)."""
        E, out, fan_in = w.shape
        flat = w.reshape(E * out, fan_in)
        a = torch.mm(flat, xT) if b is None else torch.addmm(b.reshape(E * out, 1), flat, xT)
        return a.view(E, out, xT.shape[1])

    def forward(self, x, params=None):
        """Logits (E, P, C) for shared inputs x (P, in)."""
        params = self.params if params is None else params
        n = len(self.weights)
        h = None
        for i in range(n):
            w, b = self._layer(params, i)
            if i == 0:
                h = self._first(w, b, x.T)
            else:
                h = torch.bmm(w, h) if b is None else torch.baddbmm(b, w, h)
            if i < n - 1:
                h = torch.relu(h)
        return h.transpose(1, 2)

    def _buffer(self, name, shape, like):
        """A reused work buffer: fresh multi-megabyte tensors every step cost page faults (several × the math)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf

    def _cached(self, name, source: torch.Tensor, make):
        """A tensor derived from `source` (the data), remade when the data change."""
        key = (name, source.data_ptr(), tuple(source.shape), source.dtype, source.device, source._version)
        value = self._buffers.get(key)
        if value is None:
            self._buffers = {k: v for k, v in self._buffers.items() if k[0] != name}
            value = self._buffers[key] = make()
        return value

    @torch.no_grad()
    def loss_and_grad(self, x, y, gamma, loss):
        """Hand-written backpropagation (same values as autograd, tested). The returned gradients are reused
        buffers, valid until the next call."""
        E, P, n = self.size, x.shape[0], len(self.weights)
        C = self.weights[-1].shape[1]
        onehot = self._cached("onehot", y, lambda: F.one_hot(y, C).T.to(x.dtype).contiguous())
        # xᵀ, with a row of ones when there are biases: one product then gives the first layer's weight and bias
        # gradients. (A transposed view instead of a contiguous copy makes these products ~4× slower.)
        xT1 = self._cached("xT", x, lambda: torch.cat([x.T, torch.ones_like(x[:, :1]).T]) if self.biases else
                           x.T.contiguous())
        xT = xT1[: x.shape[1]]
        step = 2 if self.biases is not None else 1
        grads = [self._buffer(("grad", i), p.shape, p) for i, p in enumerate(self.params)]
        hs = []  # inputs of layers 1 … n − 1 (after the ReLU), (E, features, P)
        h = None
        for i in range(n):
            w, b = self._layer(self.params, i)
            out = self._buffer(("h", i), (E, w.shape[1], P), w)
            if i == 0:
                target = out.view(E * w.shape[1], P)
                flat = w.reshape(E * w.shape[1], w.shape[2])
                h = torch.mm(flat, xT, out=target) if b is None else torch.addmm(b.reshape(-1, 1), flat, xT,
                                                                                 out=target)
                h = out
            else:
                h = torch.bmm(w, h, out=out) if b is None else torch.baddbmm(b, w, h, out=out)
            if i < n - 1:
                h.clamp_(min=0)
                hs.append(h)
        z = h  # (E, C, P)
        obj, stat, d = _loss_and_dlogits(loss, z, y, gamma, onehot)
        if not bool(torch.isfinite(obj).all()):  # a diverged member contributes no gradient (and no NaN to others)
            d = torch.where(torch.isfinite(obj)[:, None, None], d, torch.zeros_like(d))
        for i in range(n - 1, -1, -1):
            w, _ = self._layer(self.params, i)
            if i > 0:
                torch.bmm(d, hs[i - 1].transpose(1, 2), out=grads[step * i])
                if self.biases is not None:
                    torch.sum(d, 2, keepdim=True, out=grads[step * i + 1])
                d = torch.bmm(w.transpose(1, 2), d, out=self._buffer(("d", i - 1), hs[i - 1].shape, d))
                torch.ops.aten.threshold_backward.grad_input(d, hs[i - 1], 0, grad_input=d)
            else:
                g = torch.mm(xT1, d.reshape(E * w.shape[1], P).T)  # (in [+ 1], E · width)
                grads[0].copy_(g[: w.shape[2]].T.reshape(w.shape))
                if self.biases is not None:
                    grads[1].copy_(g[w.shape[2]].reshape(grads[1].shape))
        return obj, stat, z.transpose(1, 2), grads

    def member(self, e: int) -> MLP:
        """Member e as a standalone `MLP` (a copy)."""
        fan_in, width, out = self.weights[0].shape[2], self.weights[0].shape[1], self.weights[-1].shape[1]
        depth = len(self.weights) - 1
        dtype = {torch.float32: "float32", torch.float64: "float64"}[self.weights[0].dtype]
        m = MLP(fan_in, width, out, depth=depth, init="ntk2021" if self.biases is not None else "nobias",
                dtype=dtype, device=self.weights[0].device)
        with torch.no_grad():
            for i, layer in enumerate(m.linears()):
                layer.weight.copy_(self.weights[i][e])
                if self.biases is not None:
                    layer.bias.copy_(self.biases[i][e, :, 0])
        return m


class EnsembleMyrtle(EnsembleModel):
    """E Myrtle-style CNNs (`models.Myrtle`) as grouped convolutions: member e's channels are group e of every
    convolution, so one `conv1d`/`conv2d` call runs all members. Gradients by autograd; the full batch can be
    processed in chunks of `chunk` samples (gradients accumulated) to bound memory on large data sets."""

    def __init__(self, convs: list[tuple[torch.Tensor, torch.Tensor]], head: tuple[torch.Tensor, torch.Tensor],
                 dims: int = 1, chunk: int | None = None):
        require_choice("dims", dims, (1, 2))
        if chunk is not None:
            require_int("chunk", chunk, at_least=1)
        self.dims, self.chunk = dims, chunk
        self.params = [t.detach().clone().contiguous().requires_grad_(True) for w, b in convs for t in (w, b)]
        self.params += [t.detach().clone().contiguous().requires_grad_(True) for t in head]

    @classmethod
    def from_models(cls, models, chunk: int | None = None) -> "EnsembleMyrtle":
        convs = [(torch.stack([m.convs[i].weight.detach() for m in models]),
                  torch.stack([m.convs[i].bias.detach() for m in models])) for i in range(len(models[0].convs))]
        head = (torch.stack([m.head.weight.detach() for m in models]), torch.stack([m.head.bias.detach() for m in models]))
        return cls(convs, head, models[0].dims, chunk)

    @classmethod
    def init(cls, width: int, seeds: Sequence[int], dims: int = 1, in_channels: int = 1, num_classes: int = 10,
             dtype: str = "float32", device=None, chunk: int | None = None) -> "EnsembleMyrtle":
        """Member e is `Myrtle(width, ..., seed=seeds[e])`, exactly."""
        from .models import Myrtle

        return cls.from_models([Myrtle(width, dims, in_channels, num_classes, seed=s, dtype=dtype,
                                       device=device) for s in _seeds(seeds)], chunk)

    def forward(self, x, params=None):
        from .models import Myrtle

        params = self.params if params is None else params
        conv = F.conv1d if self.dims == 1 else F.conv2d
        pool = F.avg_pool1d if self.dims == 1 else F.avg_pool2d
        E = params[0].shape[0]
        h = x.repeat(1, E, *([1] * self.dims))  # (P, E · in-channels, …): group e holds member e's input
        n_conv = (len(params) - 2) // 2
        for i in range(n_conv):
            w, b = params[2 * i], params[2 * i + 1]
            h = torch.relu(conv(h, w.reshape(E * w.shape[1], *w.shape[2:]), b.reshape(-1), padding=1, groups=E))
            if Myrtle.POOL_AFTER[i]:
                h = pool(h, 2)
        h = h.flatten(2).mean(-1).view(x.shape[0], E, -1)  # (P, E, width)
        wd, bd = params[-2], params[-1]
        return torch.einsum("pec,ekc->epk", h, wd) + bd[:, None, :]

    def loss_and_grad(self, x, y, gamma, loss):
        if self.chunk is None or x.shape[0] <= self.chunk:
            return super().loss_and_grad(x, y, gamma, loss)
        P = x.shape[0]
        obj = stat = None
        grads = [torch.zeros_like(p) for p in self.params]
        logits = []
        for i in range(0, P, self.chunk):
            z = self.forward(x[i:i + self.chunk])
            o, s = per_member_losses(loss, z, y[i:i + self.chunk], gamma)
            share = z.shape[1] / P  # chunk means, weighted, sum to the full-batch means
            total = torch.where(torch.isfinite(o), o, torch.zeros_like(o)).sum() * share
            for g, d in zip(grads, torch.autograd.grad(total, self.params)):
                g += d
            obj = o.detach() * share if obj is None else obj + o.detach() * share
            stat = s.detach() * share if stat is None else stat + s.detach() * share
            logits.append(z.detach())
        return obj, stat, torch.cat(logits, dim=1), grads


def _loss_and_dlogits(loss: str, z: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor, onehot: torch.Tensor):
    """Objective (E,), static loss (E,) and ∂objective/∂z for logits z in the (E, C, P) layout; onehot: (C, P)."""
    E, C, P = z.shape
    if loss == "dce":
        logp = torch.log_softmax(z, 1)
        nll = -(logp * onehot).sum(1)  # (E, P)
        w = gamma[:, y]  # (E, P)
        dz = (logp.exp() - onehot) * (w / P).unsqueeze(1)
        return (w * nll).mean(1), nll.mean(1), dz
    r = z - onehot
    sq = r * r
    per_sample = sq.sum(1)
    if loss == "dmse1":
        w = gamma[:, y]
        return (w * per_sample).mean(1), per_sample.mean(1), r * (2.0 * w / P).unsqueeze(1)
    if loss == "dmse2":
        g = gamma.unsqueeze(-1)  # (E, C, 1)
        return (sq * g).sum(1).mean(1), per_sample.mean(1), r * g * (2.0 / P)
    require_choice("loss", loss, LOSSES)


# ------------------------------------------------------------------------------------------------ schedules
class GammaBank:
    """Γ(t) for every member, computed in chunks of steps (members may have different schedules)."""

    def __init__(self, schedules: Sequence[GammaSchedule | None], num_classes: int, dtype, device, chunk: int = 512):
        self.num_classes = num_classes
        self.distinct = list(dict.fromkeys(schedules))
        self.index = np.array([self.distinct.index(s) for s in schedules])
        for s in self.distinct:
            if s is not None and s.num_classes != num_classes:
                raise ConfigError(f"schedule num_classes={s.num_classes} is not allowed: it must match the data's "
                                  f"{num_classes} classes")
        self.dtype, self.device, self.chunk = dtype, device, chunk
        self._start, self._table = None, None

    def table(self, start: int, stop: int) -> np.ndarray:
        """Γ for steps start … stop − 1: shape (stop − start, E, C)."""
        steps = np.arange(start, stop)
        per = [np.ones((len(steps), self.num_classes)) if s is None else s.gammas(steps) for s in self.distinct]
        return np.stack(per, axis=1)[:, self.index]

    def __call__(self, t: int) -> torch.Tensor:
        """Γ(t), shape (E, C), on the device."""
        if self._start is None or not (self._start <= t < self._start + self.chunk):
            self._start = t
            self._table = torch.as_tensor(self.table(t, t + self.chunk), dtype=self.dtype, device=self.device)
        return self._table[t - self._start]


# ----------------------------------------------------------------------------------------------- training
@dataclass
class EnsembleLog:
    """Per-member curves. Arrays are (records, E) at `steps`; `diverged_at[e]` = −1 for members that never did."""

    steps: np.ndarray
    objective: np.ndarray  # the dynamical objective at t (before the step)
    static_loss: np.ndarray  # its static counterpart (A = 1): CE for "dce", MSE for "dmse1"/"dmse2"
    accuracy: np.ndarray  # training accuracy
    evals: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # set → {"loss", "accuracy"}: (records, E)
    probes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name → (steps, (n, E))
    diverged_at: np.ndarray = None
    final_state: list[torch.Tensor] | None = None
    early_objective: np.ndarray | None = None  # (early_steps + 1, E): the objective at every step t ≤ early_steps

    @property
    def final_accuracy(self) -> np.ndarray:
        return self.accuracy[-1]


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


def _describe_set(data) -> str:
    if not isinstance(data, Dataset):
        return type(data).__name__
    return f"{data.num_classes} classes, samples of shape {tuple(data.x.shape[1:])}, {data.x.dtype}, on {data.x.device}"


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """argmax over classes of (E, P, C) logits (first index on ties, as `Tensor.argmax`). A contiguous copy first:
    argmax over a strided axis of few classes is ~20× slower on a CPU than the copy."""
    return logits.contiguous().argmax(-1)


@torch.no_grad()
def evaluate(model: EnsembleModel, data: Dataset, loss: str = "dce", batch: int = 8192):
    """Static loss and accuracy of every member on `data`: two (E,) tensors."""
    require_int("batch", batch, at_least=1)
    E = model.size
    total, correct = torch.zeros(E, dtype=torch.float64, device=data.x.device), torch.zeros(
        E, dtype=torch.float64, device=data.x.device)
    ones = torch.ones(E, data.num_classes, dtype=data.x.dtype, device=data.x.device)
    for i in range(0, len(data), batch):
        x, y = data.x[i:i + batch], data.y[i:i + batch]
        z = model(x)
        _, static = per_member_losses(loss, z, y, ones)
        total += static.to(torch.float64) * len(y)
        correct += (predictions(z) == y).sum(-1).to(torch.float64)
    return total / len(data), correct / len(data)


def train_ensemble(model: EnsembleModel, data: Dataset, *, loss: str = "dce",
                   schedules: GammaSchedule | Sequence[GammaSchedule | None] | None = None,
                   lr: float | Sequence[float] = 1.0, steps: int, record_every: int = 1,
                   eval_sets: dict[str, Dataset] | None = None, probes: Sequence[Probe] = (),
                   checkpoint: Checkpoint | None = None, progress: bool = False,
                   description: str = "ensemble", keep_final_state: bool = False,
                   early_steps: int = 0) -> EnsembleLog:
    """Full-batch GD of every member on its own (dynamical) loss: θ_e ← θ_e − η_e ∇ F_e(θ_e, t).

    schedules: one GammaSchedule for all members, one per member (None = plain loss, Γ ≡ 1), or None for all.
    At each recorded step t (t % record_every == 0, and the last step) the training objective, static loss and
    accuracy of θ_t are kept, and every set in `eval_sets` is evaluated. A member whose objective turns non-finite
    is recorded as diverged at that step (its later values are NaN); the others go on.
    early_steps: also keep the objective at every step t ≤ early_steps — the drift check's anchor, short enough that
    float32 rounding differences between CPU kernels stay small in chaotic runs (they reach 50 % by step 400).
    """
    require_choice("loss", loss, LOSSES)
    require_int("steps", steps, at_least=0)
    require_int("record_every", record_every, at_least=1)
    require_int("early_steps", early_steps, at_least=0)
    require_distinct_names(probes)
    E, x, y = model.size, data.x, data.y
    check_model_fits(model, model.params, data, (E, 1, data.num_classes))
    for name, other in (eval_sets or {}).items():
        require(isinstance(other, Dataset) and other.num_classes == data.num_classes
                and other.x.shape[1:] == x.shape[1:] and other.x.dtype == x.dtype and other.x.device == x.device,
                f"eval_sets[{name!r}]", f"a Dataset like the training data ({data.num_classes} classes, samples of "
                f"shape {tuple(x.shape[1:])}, {x.dtype}, on {x.device})", _describe_set(other))
    device, dtype = x.device, x.dtype
    if schedules is None or isinstance(schedules, GammaSchedule):
        schedules = [schedules] * E
    require(len(schedules) == E, "schedules", f"one per member ({E})", len(schedules))
    gammas = GammaBank(list(schedules), data.num_classes, dtype, device)
    lr_t = _lr_tensor(lr, E, dtype, device)
    uniform_lr = bool((lr_t == lr_t[0]).all())
    lr0 = float(lr_t[0])
    lr_views = [lr_t.view(E, *([1] * (p.dim() - 1))) for p in model.params]
    eval_sets = eval_sets or {}
    record = [t for t in range(steps + 1) if t % record_every == 0 or t == steps]
    R = len(record)
    row_of = {t: i for i, t in enumerate(record)}
    nan = float("nan")
    objective = torch.full((R, E), nan, dtype=torch.float64, device=device)
    static = torch.full((R, E), nan, dtype=torch.float64, device=device)
    accuracy = torch.full((R, E), nan, dtype=torch.float64, device=device)
    evals = {k: {"loss": torch.full((R, E), nan, dtype=torch.float64, device=device),
                 "accuracy": torch.full((R, E), nan, dtype=torch.float64, device=device)} for k in eval_sets}
    probe_values: dict[str, dict[int, torch.Tensor]] = {p.name: {} for p in probes}
    early = torch.full((min(early_steps, steps) + 1 if early_steps else 0, E), nan, dtype=torch.float64, device=device)
    first_bad = torch.full((E,), -1, dtype=torch.int64, device=device)
    any_diverged = False
    start = 0
    state = checkpoint.load() if checkpoint else None
    if state is not None and state.get("records") == R and state.get("members") == E:
        model.load_state(state["params"])
        objective.copy_(state["objective"]), static.copy_(state["static"]), accuracy.copy_(state["accuracy"])
        for k in evals:
            evals[k]["loss"].copy_(state["evals"][k]["loss"]), evals[k]["accuracy"].copy_(state["evals"][k]["accuracy"])
        probe_values = {k: {int(s): v.clone() for s, v in d.items()} for k, d in state["probes"].items()}
        first_bad.copy_(state["first_bad"])
        early.copy_(state["early"])
        any_diverged = bool((first_bad >= 0).any())
        start = int(state["next_step"])
    params = model.params
    bar = tqdm(total=steps + 1, initial=start, desc=description, disable=not progress, mininterval=1.0)
    for t in range(start, steps + 1):
        gamma = gammas(t)
        obj, stat, logits, grads = model.loss_and_grad(x, y, gamma, loss)
        if any_diverged or not bool(torch.isfinite(obj).all()):
            bad = ~torch.isfinite(obj)
            first_bad = torch.where(bad & (first_bad < 0), torch.full_like(first_bad, t), first_bad)
            any_diverged = True
        if t < len(early):
            early[t] = obj.to(torch.float64)
        r = row_of.get(t)
        if r is not None:
            keep = (lambda v: torch.where(first_bad < 0, v, nan)) if any_diverged else (lambda v: v)
            objective[r] = keep(obj.to(torch.float64))
            static[r] = keep(stat.to(torch.float64))
            accuracy[r] = keep((predictions(logits) == y).to(torch.float64).mean(-1))
            for k, d in eval_sets.items():
                l_, a_ = evaluate(model, d, loss)
                evals[k]["loss"][r] = keep(l_)
                evals[k]["accuracy"][r] = keep(a_)
        for probe in probes:
            if probe.due(t, steps):
                probe_values[probe.name][t] = torch.as_tensor(probe.fn(model, t)).detach().to("cpu", torch.float64)
        if t < steps:
            with torch.no_grad():
                if uniform_lr:
                    torch._foreach_add_(params, grads, alpha=-lr0)
                else:
                    torch._foreach_sub_(params, torch._foreach_mul(grads, lr_views))
        if t % 100 == 0 or t == steps:
            bar.update(t + 1 - bar.n)
            if checkpoint is not None and checkpoint.due() and t < steps:
                checkpoint.save({"params": model.state(), "objective": objective, "static": static,
                                 "accuracy": accuracy, "evals": evals, "probes": probe_values, "first_bad": first_bad,
                                 "early": early, "next_step": t + 1, "records": R, "members": E})
    bar.close()
    diverged = first_bad.cpu().numpy()
    probes_out = {}
    for name, d in probe_values.items():
        s = np.array(sorted(d), dtype=np.int64)
        v = np.stack([d[k].numpy() for k in s]) if len(s) else np.zeros((0, E))
        for e in range(E):  # NaN after divergence
            if diverged[e] >= 0:
                v[s >= diverged[e], e] = np.nan
        probes_out[name] = (s, v)
    return EnsembleLog(
        steps=np.array(record, dtype=np.int64),
        objective=objective.cpu().numpy(), static_loss=static.cpu().numpy(), accuracy=accuracy.cpu().numpy(),
        evals={k: {m: v.cpu().numpy() for m, v in d.items()} for k, d in evals.items()},
        probes=probes_out, diverged_at=diverged,
        final_state=model.state() if keep_final_state else None,
        early_objective=early.cpu().numpy() if early_steps else None)


# ---------------------------------------------------------------------------------------- Hessian probes
class EnsembleHessian:
    """v ↦ H_e v_e for every member at once: the Hessian of the sum of the members' losses is block-diagonal, so a
    Hessian-vector product with stacked vectors (E, n) gives each member's own product."""

    def __init__(self, model: EnsembleModel, criterion: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
        """criterion(logits (E, P, C)) -> per-member loss (E,)."""
        self.model = model
        self.params = model.params
        losses = criterion(model(x))
        losses = torch.where(torch.isfinite(losses), losses, torch.zeros_like(losses))
        self.grads = torch.autograd.grad(losses.sum(), self.params, create_graph=True)
        self.size = model.num_parameters()
        self.members = model.size

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(self.grads, self.params, grad_outputs=self.model.unflat(v), retain_graph=True)
        return self.model.flat(hv).detach()


def batched_lanczos(matvec, members: int, size: int, steps: int, *, dtype=torch.float64, device=None, seed: int = 0):
    """Lanczos with full reorthogonalization on E symmetric operators at once (matvec maps (E, n) → (E, n)).

    Returns alpha (E, m), beta (E, m − 1) with m = min(steps, n); the Ritz values are the eigenvalues of each
    member's tridiagonal matrix. When a member's Krylov space becomes invariant (β ≈ 0), its next vector is a fresh
    random vector orthogonal to the basis and β = 0 there, so its tridiagonal matrix splits into exact blocks.
    """
    require_int("steps", steps, at_least=1)
    steps = min(steps, size)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    q = torch.randn(members, size, generator=generator, dtype=torch.float64).to(device=device, dtype=dtype)
    q = q / q.norm(dim=1, keepdim=True)
    Q = torch.zeros(members, steps, size, dtype=dtype, device=device)
    alpha = torch.zeros(members, steps, dtype=dtype, device=device)
    beta = torch.zeros(members, max(steps - 1, 0), dtype=dtype, device=device)
    b = torch.zeros(members, dtype=dtype, device=device)

    def orthogonalize(w, j):
        for _ in range(2):  # full reorthogonalization (twice is enough)
            w = w - torch.einsum("ejn,ej->en", Q[:, : j + 1], torch.einsum("ejn,en->ej", Q[:, : j + 1], w))
        return w

    for j in range(steps):
        Q[:, j] = q
        w = matvec(q)
        a = (w * q).sum(1)
        w = w - a[:, None] * q
        if j > 0:
            w = w - b[:, None] * Q[:, j - 1]
        w = orthogonalize(w, j)
        alpha[:, j] = a
        if j + 1 < steps:
            b = w.norm(dim=1)
            scale = alpha[:, : j + 1].abs().amax(1).clamp_min(1.0)
            stuck = b <= 1e-10 * scale
            if bool(stuck.any()):
                fresh = orthogonalize(torch.randn(members, size, generator=generator, dtype=torch.float64)
                                      .to(device=device, dtype=dtype), j)
                w = torch.where(stuck[:, None], fresh, w)
                b = torch.where(stuck, torch.zeros_like(b), b)
            beta[:, j] = b
            q = w / w.norm(dim=1, keepdim=True)
    return alpha, beta


def batched_tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    return torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)


def ensemble_top_eigenvalue(model: EnsembleModel, criterion, x: torch.Tensor, lanczos_steps: int = 20,
                            seed: int = 0) -> torch.Tensor:
    """λ_max of each member's Hessian of criterion, shape (E,)."""
    op = EnsembleHessian(model, criterion, x)
    alpha, beta = batched_lanczos(op, op.members, op.size, lanczos_steps, dtype=model.params[0].dtype,
                                  device=model.params[0].device, seed=seed)
    return torch.linalg.eigvalsh(batched_tridiagonal(alpha, beta))[:, -1].detach()


def hessian_probe(data: Dataset, loss: str, schedules, every: int, lanczos_steps: int = 20,
                  name: str = "hessian_max") -> Probe:
    """λ_max of ∇²F(θ_t, t) of every member, on the whole training set, every `every` steps."""
    require_choice("loss", loss, LOSSES)
    require_int("lanczos_steps", lanczos_steps, at_least=1)

    def fn(model, t):
        sched = schedules if isinstance(schedules, (list, tuple)) else [schedules] * model.size
        gamma = torch.as_tensor(GammaBank(sched, data.num_classes, data.x.dtype, data.x.device).table(t, t + 1)[0],
                                dtype=data.x.dtype, device=data.x.device)
        return ensemble_top_eigenvalue(model, lambda z: per_member_losses(loss, z, data.y, gamma)[0], data.x,
                                       lanczos_steps=lanczos_steps)

    return Probe(name, every, fn)
