"""No host–device sync in a loss's forward or backward pass, checked without a GPU.

The passes run on the meta device, whose tensors have shapes but no values: any read of a value on the host
(`.item()`, `bool(t)`, `.tolist()`, `float(t)`, control flow on a tensor) raises there, as it would wait for a GPU.
A TorchFunctionMode records, besides those reads, every tensor made from host data on the device (a numpy or list
copy of Γ each step, say) and every CPU tensor that enters the device's computation — the copies that stall a GPU
as `nn.CrossEntropyLoss` never does.
"""

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import landscape
from landscape.losses import GammaSchedule, per_member_losses

READS = {"item", "__bool__", "tolist", "__float__", "__int__", "__index__", "numpy", "cpu", "__array__"}
FROM_HOST = {"as_tensor", "tensor", "from_numpy", "asarray"}


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for t in tree:
            yield from _tensors(t)
    elif isinstance(tree, dict):
        for t in tree.values():
            yield from _tensors(t)


class HostTraffic(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name in READS:
            self.seen.append(f"host read: {name}")
        out = func(*args, **kwargs)
        on_device = [t for t in _tensors(out) if t.device.type != "cpu"]
        if on_device:
            if name in FROM_HOST and not any(isinstance(a, torch.Tensor) for a in args[:1]):
                self.seen.append(f"tensor from host data: {name}")
            cpu_inputs = [t for t in _tensors((args, kwargs)) if t.device.type == "cpu"]
            if cpu_inputs:
                self.seen.append(f"CPU tensor into a device op: {name} {[tuple(t.shape) for t in cpu_inputs]}")
        return out


def passes(loss_fn, logits, targets, steps=3):
    """Forward and backward passes of a training loop, stepping the clock, under HostTraffic."""
    mode = HostTraffic()
    with mode:
        for _ in range(steps):
            loss = loss_fn(logits, targets)
            loss.backward()
            loss_fn.step()
    return mode.seen


C, N = 5, 16
WEIGHT = torch.tensor([0.5, 2.0, 1.0, 3.0, 1.5], dtype=torch.float64)
CASES = {
    "defaults": (landscape.DynamicalCrossEntropy, {}, "indices"),
    "weight": (landscape.DynamicalCrossEntropy, dict(weight=WEIGHT), "indices"),
    "smoothing, ignore_index": (landscape.DynamicalCrossEntropy, dict(label_smoothing=0.1, ignore_index=3), "indices"),
    "weight, sum": (landscape.DynamicalCrossEntropy, dict(weight=WEIGHT, reduction="sum"), "indices"),
    "probabilities": (landscape.DynamicalCrossEntropy, dict(weight=WEIGHT, label_smoothing=0.2), "probabilities"),
    "steps_per_epoch": (landscape.DynamicalCrossEntropy, dict(steps_per_epoch=4), "indices"),
    "dmse1": (landscape.DynamicalMSELoss, dict(variant="dmse1"), "indices"),
    "dmse2": (landscape.DynamicalMSELoss, dict(variant="dmse2"), "indices"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_training_step_reads_nothing_on_the_host(case):
    cls, kwargs, kind = CASES[case]
    loss_fn = cls(C, 30.0, 3, **kwargs).to("meta")
    logits = torch.empty(N, C, dtype=torch.float32, device="meta", requires_grad=True)
    targets = torch.empty(N, C, device="meta") if kind == "probabilities" else \
        torch.empty(N, dtype=torch.long, device="meta")
    assert passes(loss_fn, logits, targets) == []
    assert loss_fn.t == 3 and logits.grad.shape == (N, C)


def test_the_ensembles_losses_read_nothing_on_the_host():
    gamma = torch.empty(4, C, dtype=torch.float32, device="meta")
    for layout, shape in ((-1, (4, N, C)), (-2, (4, C, N))):
        logits = torch.empty(shape, device="meta", requires_grad=True)
        for kind in ("dce", "dmse1", "dmse2"):
            mode = HostTraffic()
            with mode:
                objective, static = per_member_losses(kind, logits, torch.empty(N, dtype=torch.long, device="meta"),
                                                      gamma, class_dim=layout)
                objective.sum().backward()
            assert mode.seen == [] and objective.shape == static.shape == (4,)


def test_the_check_sees_what_it_is_for():
    """The same passes with a sync and a host copy put back in are caught (what the check replaced)."""
    logits = torch.empty(N, C, device="meta", requires_grad=True)
    targets = torch.empty(N, dtype=torch.long, device="meta")

    class Syncing(landscape.DynamicalCrossEntropy):
        def forward(self, input, target, step=None):
            gamma = torch.as_tensor(self.schedule.gamma(self.t), dtype=input.dtype, device=input.device)
            if bool((target >= 0).all()):  # the old label check
                pass
            return super().forward(input, target) * gamma.sum() / C

    with pytest.raises(RuntimeError, match="meta"):  # bool() of a meta tensor: a value the host would wait for
        passes(Syncing(C, 30.0, 3).to("meta"), logits, targets)

    class Copying(landscape.DynamicalCrossEntropy):
        def forward(self, input, target, step=None):
            gamma = torch.as_tensor(self.schedule.gamma(self.t), dtype=input.dtype, device=input.device)
            return super().forward(input, target) * gamma.sum() / C

    seen = passes(Copying(C, 30.0, 3).to("meta"), logits, targets)
    assert "tensor from host data: as_tensor" in seen


@pytest.mark.parametrize("C,A,T,last", [(2, 3.0, 1, False), (3, 70.0, 10, True), (10, 5.0, 7, True),
                                        (17, 1.5, 4, False), (4, 1.0, 5, False)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gamma_on_the_device_is_the_schedules_gamma_bit_for_bit(C, A, T, last, dtype):
    """Γ(t) is written into a tensor from two Python floats (no host copy): the same numbers as GammaSchedule's."""
    total = 6 * C * (T + 1)
    schedule = GammaSchedule(C, A, T, total, last)
    loss_fn = landscape.DynamicalCrossEntropy(schedule)
    logits = torch.zeros(1, C, dtype=dtype)
    expected = torch.as_tensor(schedule.gammas(np.arange(total + 1)), dtype=dtype)
    for t in range(total + 1):
        assert torch.equal(loss_fn._gamma_at(logits, t), expected[t]), t
