"""The clock of the dynamical losses, as PyTorch's schedulers keep theirs: a step per optimizer step, `last_epoch`,
`state_dict`, epochs through `steps_per_epoch`, a warning when training never steps it, a repr with every argument."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import landscape
from landscape.loss_modules import UNSTEPPED_CALLS
from landscape.losses import GammaSchedule
from landscape.validation import ConfigError

C = 4


def batch(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g, dtype=torch.float64, requires_grad=True), torch.randint(0, C, (n,),
                                                                                                 generator=g)


@pytest.mark.parametrize("cls", [landscape.DynamicalCrossEntropy, landscape.DynamicalMSELoss])
def test_period_in_epochs_with_steps_per_epoch(cls):
    """period=T, total_steps=S with steps_per_epoch=B: the schedule of T·B and S·B optimizer steps."""
    loss_fn = cls(C, 10.0, 3, steps_per_epoch=7, total_steps=40, final_plain_ce=True)
    assert loss_fn.schedule == GammaSchedule(C, 10.0, 21, 280, True)
    expected = GammaSchedule(C, 10.0, 21, 280, True).gammas(np.arange(300))
    for t in range(300):
        assert np.array_equal(loss_fn.gamma.numpy(), expected[t])
        loss_fn.step()
    assert loss_fn.steps_per_epoch == 7 and loss_fn.last_epoch == 300
    with pytest.raises(ConfigError, match="^steps_per_epoch="):
        cls(C, 10.0, 3, steps_per_epoch=0)
    with pytest.raises(ConfigError, match="^period="):  # checked in the caller's units: 0 epochs is an error
        cls(C, 10.0, 0, steps_per_epoch=7)
    with pytest.raises(ConfigError, match="^schedule="):
        cls(GammaSchedule(C, 10.0, 3), steps_per_epoch=7)


def test_last_epoch_and_state_dict_follow_the_scheduler_conventions():
    loss_fn = landscape.DynamicalCrossEntropy(C, 10.0, 3)
    assert loss_fn.last_epoch == loss_fn.t == 0
    for _ in range(5):
        loss_fn.step()
    assert loss_fn.last_epoch == 5
    resumed = landscape.DynamicalCrossEntropy(C, 10.0, 3)
    resumed.load_state_dict(loss_fn.state_dict())
    assert resumed.last_epoch == 5 and torch.equal(resumed.gamma, loss_fn.gamma)
    resumed.last_epoch = 2
    assert resumed.t == 2


def test_repr_shows_every_argument():
    loss_fn = landscape.DynamicalCrossEntropy(C, 10.0, 3, steps_per_epoch=7, total_steps=40, final_plain_ce=True,
                                              weight=[1.0, 2.0, 1.0, 1.0], ignore_index=2, label_smoothing=0.1)
    loss_fn.step()
    assert repr(loss_fn) == ("DynamicalCrossEntropy(num_classes=4, amplitude=10.0, period=3, steps_per_epoch=7, "
                             "total_steps=40, final_plain_ce=True, weight=[1.0, 2.0, 1.0, 1.0], ignore_index=2, "
                             "reduction='mean', label_smoothing=0.1, t=1)")
    assert repr(landscape.DynamicalMSELoss(C, 5.0, 2, variant="dmse2")) == (
        "DynamicalMSELoss(num_classes=4, amplitude=5.0, period=2, steps_per_epoch=None, total_steps=None, "
        "final_plain_ce=False, variant='dmse2', reduction='mean', t=0)")
    schedule = GammaSchedule(C, 5.0, 2, 100, final_plain_steps=10)
    assert repr(landscape.DynamicalCrossEntropy(schedule)).startswith(f"DynamicalCrossEntropy(schedule={schedule!r}, ")


def test_training_without_step_warns_once():
    """Γ(0) ≡ 1: a loop that never calls step() trains plain cross-entropy. Gradient accumulation stays quiet."""
    torch.set_num_threads(1)  # tiny tensors (restored by conftest)
    logits, labels = batch()
    loss_fn = landscape.DynamicalCrossEntropy(C, 10.0, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2 * UNSTEPPED_CALLS):
            loss_fn(logits, labels).backward()
    assert len(caught) == 1 and "without loss_fn.step()" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the loop, not into the package
    stepped = landscape.DynamicalCrossEntropy(C, 10.0, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            for _ in range(UNSTEPPED_CALLS - 1):  # accumulating gradients over many micro-batches
                stepped(logits, labels).backward()
            stepped.step()
        frozen = stepped.at(7)
        for _ in range(UNSTEPPED_CALLS + 1):  # a loss frozen at t, evaluations without gradients, a given step
            frozen(logits, labels).backward()
            with torch.no_grad():
                stepped(logits, labels)
            stepped(logits, labels, step=3).backward()
        x = logits.detach()  # Hessian products: 3 × 12 products × 2 batches, each a call of the loss
        landscape.hessian_spectrum(nn.Linear(C, C).double(), stepped, [(x[:6], labels[:6]), (x[6:], labels[6:])],
                                   vectors=3, steps=40)


def test_a_frozen_copy_does_not_step():
    loss_fn = landscape.DynamicalCrossEntropy(C, 10.0, 3)
    frozen = loss_fn.at(5)
    with pytest.raises(ConfigError, match="^step="):
        frozen.step()
    assert frozen.t == 5 and loss_fn.t == 0
