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
from functools import partial
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .curvature import hessian_eigenvalues
from .data import Dataset
from .losses import LOSSES, GammaSchedule, per_member_losses
from .models import MLP
from .training import Descent, EnsembleLog, EnsembleModel, Probe, descend
from .validation import ConfigError, require, require_choice, require_int


def _seeds(seeds) -> list[int]:
    """A non-empty sequence of integer seeds >= 0 (numpy integers too), as Python ints."""
    require(isinstance(seeds, (Sequence, np.ndarray)) and len(seeds) > 0, "seeds",
            "a non-empty sequence of integers", seeds)
    for s in seeds:
        ok = isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
        require(ok, "seeds", "a non-empty sequence of integers >= 0", s)
    return [int(s) for s in seeds]


# ----------------------------------------------------------------------------------------------------- models
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
        obj, stat, d = _loss_and_dlogits(loss, z, y, gamma)
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
    processed `samples_per_pass` samples at a time (gradients accumulated) to bound memory on large data sets.

    In 1-D, members at most BMM_MAX_WIDTH channels wide convolve as batched matrix products of the shifted inputs
    (on one CPU core about 3× faster than grouped convolutions at 2 channels, 1.5× at 4, slower from 8 on:
    measured at 24 members × 500 MNIST-1D signals), and pooling is a reshaped mean (avg_pool1d is slow on a CPU).
    Either way each member computes its own `Myrtle` to float rounding (tested)."""

    BMM_MAX_WIDTH = 4

    def __init__(self, convs: list[tuple[torch.Tensor, torch.Tensor]], head: tuple[torch.Tensor, torch.Tensor],
                 dims: int = 1, samples_per_pass: int | None = None):
        require_choice("dims", dims, (1, 2))
        if samples_per_pass is not None:
            require_int("samples_per_pass", samples_per_pass, at_least=1)
        self.dims, self.samples_per_pass = dims, samples_per_pass
        self.params = [t.detach().clone().contiguous().requires_grad_(True) for w, b in convs for t in (w, b)]
        self.params += [t.detach().clone().contiguous().requires_grad_(True) for t in head]

    @classmethod
    def from_models(cls, models, samples_per_pass: int | None = None) -> "EnsembleMyrtle":
        convs = [(torch.stack([m.convs[i].weight.detach() for m in models]),
                  torch.stack([m.convs[i].bias.detach() for m in models])) for i in range(len(models[0].convs))]
        head = (torch.stack([m.head.weight.detach() for m in models]), torch.stack([m.head.bias.detach() for m in models]))
        return cls(convs, head, models[0].dims, samples_per_pass)

    @classmethod
    def init(cls, width: int, seeds: Sequence[int], dims: int = 1, in_channels: int = 1, num_classes: int = 10,
             dtype: str = "float32", device=None, samples_per_pass: int | None = None) -> "EnsembleMyrtle":
        """Member e is `Myrtle(width, ..., seed=seeds[e])`, exactly."""
        from .models import Myrtle

        return cls.from_models([Myrtle(width, dims, in_channels, num_classes, seed=s, dtype=dtype,
                                       device=device) for s in _seeds(seeds)], samples_per_pass)

    def forward(self, x, params=None):
        from .models import Myrtle

        params = self.params if params is None else params
        if self.dims == 1 and params[0].shape[1] <= self.BMM_MAX_WIDTH:
            return self._forward_bmm(x, params)
        conv = F.conv1d if self.dims == 1 else F.conv2d
        pool = _avg_pool1d if self.dims == 1 else partial(F.avg_pool2d, kernel_size=2)
        E = params[0].shape[0]
        h = x.repeat(1, E, *([1] * self.dims))  # (P, E · in-channels, …): group e holds member e's input
        n_conv = (len(params) - 2) // 2
        for i in range(n_conv):
            w, b = params[2 * i], params[2 * i + 1]
            h = torch.relu(conv(h, w.reshape(E * w.shape[1], *w.shape[2:]), b.reshape(-1), padding=1, groups=E))
            if Myrtle.POOL_AFTER[i]:
                h = pool(h)
        h = h.flatten(2).mean(-1).view(x.shape[0], E, -1)  # (P, E, width)
        wd, bd = params[-2], params[-1]
        return torch.einsum("pec,ekc->epk", h, wd) + bd[:, None, :]

    @staticmethod
    def _forward_bmm(x, params):
        """1-D forward pass with activations (E, channels, P, length): each kernel-3 convolution is one batched
        matrix product of the weights (E, out, in · 3) with the zero-padded input stacked at its three shifts."""
        from .models import Myrtle

        E, P = params[0].shape[0], x.shape[0]
        h = x.permute(1, 0, 2).unsqueeze(0).expand(E, -1, -1, -1)  # (E, in-channels, P, length)
        for i in range((len(params) - 2) // 2):
            w, b = params[2 * i], params[2 * i + 1]
            c_out, c_in, length = w.shape[1], w.shape[2], h.shape[-1]
            padded = F.pad(h, (1, 1))
            shifted = torch.stack([padded[..., k:k + length] for k in range(3)], dim=2)  # (E, in, 3, P, length)
            h = torch.baddbmm(b.unsqueeze(-1), w.reshape(E, c_out, c_in * 3), shifted.reshape(E, c_in * 3, -1))
            h = torch.relu(h).view(E, c_out, P, length)
            if Myrtle.POOL_AFTER[i]:
                h = _avg_pool1d(h)
        h = h.mean(-1)  # (E, width, P)
        wd, bd = params[-2], params[-1]
        return torch.einsum("ecp,ekc->epk", h, wd) + bd[:, None, :]

    def loss_and_grad(self, x, y, gamma, loss):
        if self.samples_per_pass is None or x.shape[0] <= self.samples_per_pass:
            return super().loss_and_grad(x, y, gamma, loss)
        P = x.shape[0]
        obj = stat = None
        grads = [torch.zeros_like(p) for p in self.params]
        logits = []
        for i in range(0, P, self.samples_per_pass):
            z = self.forward(x[i:i + self.samples_per_pass])
            o, s = per_member_losses(loss, z, y[i:i + self.samples_per_pass], gamma)
            share = z.shape[1] / P  # the passes' means, weighted, sum to the full-batch means
            total = torch.where(torch.isfinite(o), o, torch.zeros_like(o)).sum() * share
            for g, d in zip(grads, torch.autograd.grad(total, self.params)):
                g += d
            obj = o.detach() * share if obj is None else obj + o.detach() * share
            stat = s.detach() * share if stat is None else stat + s.detach() * share
            logits.append(z.detach())
        return obj, stat, torch.cat(logits, dim=1), grads


def _avg_pool1d(h: torch.Tensor) -> torch.Tensor:
    """Average pooling of window and stride 2 along the last axis (an odd last sample dropped, as F.avg_pool1d)."""
    n = h.shape[-1] // 2
    return h[..., :2 * n].unflatten(-1, (n, 2)).mean(-1)


def _loss_and_dlogits(loss: str, z: torch.Tensor, y: torch.Tensor, gamma: torch.Tensor):
    """Objective (E,), static loss (E,) and ∂objective/∂z for logits z in the (E, C, P) layout: the losses as
    `losses.per_member_losses` defines them, differentiated by autograd (a graph of the loss alone)."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        obj, stat = per_member_losses(loss, z, y, gamma, class_dim=-2)
        (dz,) = torch.autograd.grad(obj.sum(), z)
    return obj.detach(), stat.detach(), dz


# ------------------------------------------------------------------------------------------------ schedules
class GammaBank:
    """Γ(t) for every member, tabulated `table_steps` steps at a time (members may have different schedules)."""

    def __init__(self, schedules: Sequence[GammaSchedule | None], num_classes: int, dtype, device,
                 table_steps: int = 512):
        self.num_classes = num_classes
        self.distinct = list(dict.fromkeys(schedules))
        self.index = np.array([self.distinct.index(s) for s in schedules])
        for s in self.distinct:
            if s is not None and s.num_classes != num_classes:
                raise ConfigError(f"schedule num_classes={s.num_classes} is not allowed: it must match the data's "
                                  f"{num_classes} classes")
        self.dtype, self.device, self.table_steps = dtype, device, table_steps
        self._start, self._table = None, None

    def table(self, start: int, stop: int) -> np.ndarray:
        """Γ for steps start … stop − 1: shape (stop − start, E, C)."""
        steps = np.arange(start, stop)
        per = [np.ones((len(steps), self.num_classes)) if s is None else s.gammas(steps) for s in self.distinct]
        return np.stack(per, axis=1)[:, self.index]

    def __call__(self, t: int) -> torch.Tensor:
        """Γ(t), shape (E, C), on the device."""
        if self._start is None or not (self._start <= t < self._start + self.table_steps):
            self._start = t
            self._table = torch.as_tensor(self.table(t, t + self.table_steps), dtype=self.dtype, device=self.device)
        return self._table[t - self._start]


# ----------------------------------------------------------------------------------------------- training
def train_ensemble(model: EnsembleModel, data: Dataset, *,
                   schedules: GammaSchedule | Sequence[GammaSchedule | None] | None = None, **options) -> EnsembleLog:
    """Full-batch GD of every member on its own (dynamical) loss: θ_e ← θ_e − η_e ∇ F_e(θ_e, t) (`training.descend`).

    schedules: one GammaSchedule for all members, one per member (None = plain loss, Γ ≡ 1), or None for all.
    options: those of `training.Descent` — steps, loss, lr (one per member or one for all), record_every,
    eval_sets, probes, recorders, early_steps, keep_final_state, checkpoint, progress, description. A member whose
    objective turns non-finite is recorded as diverged at that step (its later values are NaN); the others go on.
    early_steps: short enough that float32 rounding differences between CPU kernels stay small in chaotic runs
    (they reach 50 % by step 400).
    """
    options = Descent(**{"description": "ensemble", **options})
    E = model.size
    if schedules is None or isinstance(schedules, GammaSchedule):
        schedules = [schedules] * E
    require(len(schedules) == E, "schedules", f"one per member ({E})", len(schedules))
    gammas = GammaBank(list(schedules), data.num_classes, data.x.dtype, data.x.device)
    return descend(model, data, gammas, options)


# ---------------------------------------------------------------------------------------- Hessian probes
def hessian_probe(data: Dataset, loss: str, schedules, every: int, lanczos_steps: int = 20,
                  name: str = "hessian_max") -> Probe:
    """λ_max of ∇²F(θ_t, t) of every member, on the whole training set, every `every` steps."""
    require_choice("loss", loss, LOSSES)
    require_int("lanczos_steps", lanczos_steps, at_least=1)

    def fn(model, t):
        sched = schedules if isinstance(schedules, (list, tuple)) else [schedules] * model.size
        gamma = torch.as_tensor(GammaBank(sched, data.num_classes, data.x.dtype, data.x.device).table(t, t + 1)[0],
                                dtype=data.x.dtype, device=data.x.device)
        objective = lambda z, y: per_member_losses(loss, z, y, gamma)[0]
        return hessian_eigenvalues(model, objective, (data.x, data.y), lanczos_steps=lanczos_steps).values[:, 0]

    return Probe(name, every, fn)
