"""Bad input a user can cause: each kind raises ConfigError whose message starts with the offending field and says
what is allowed (short, without torch internals)."""

import math
import re

import numpy as np
import pytest
import torch

from landscape.topics.lrd_toy import model as toy
from landscape.data import Dataset, augment, balanced_subset, mnist1d, random_shift, spiral, spiral_split
from landscape.data import SpiralSplitConfig
from landscape.topics.cycle.experiment import CycleConfig
from landscape.topics.image.experiment import ImageConfig
from landscape.topics.lrd_network.experiment import LateDecayNetConfig
from landscape.topics.lrd_toy.experiment import DecayConfig, PictureConfig
from landscape.topics.size_lr.experiment import SizeLRConfig
from landscape.topics.spiral.experiment import SpiralConfig
from landscape.topics.sweeps.experiment import SweepConfig
from landscape.ensemble import EnsembleMLP, EnsembleMyrtle, train_ensemble
from landscape.losses import GammaSchedule
from landscape.models import MLP, VGG, Myrtle
from landscape.training import Probe, evaluate, train_full_batch
from landscape.validation import ConfigError


def small():
    """15 spiral points in 3 classes (float64)."""
    return spiral(5)


def net(**kw):
    return MLP(2, 4, 3, **kw)


def ens(**kw):
    return EnsembleMLP.init(2, 4, 3, seeds=[0, 1], **kw)


def probe(name="p", every=1):
    return Probe(name, every, lambda m, t: 0.0)


def toy_run(**kw):
    problem = toy.make_problem(0, 2, 5)
    args = dict(w0=toy.initial_points(0, 5, 1.0), variants=toy.Variants((1.0,), ("label",), (0.1,), (0.1,), (3,)),
                schedule=toy.Schedule(small_lr_steps=2, polish_steps=1))
    args.update(kw)
    return toy.sgd(problem, args.pop("w0"), args.pop("variants"), args.pop("schedule"), **args)


x15, y15 = torch.zeros(15, 2, dtype=torch.float64), torch.zeros(15, dtype=torch.long)

# (kind, call, field the message starts with, what the message says is allowed)
CASES = [
    # models
    ("mlp in_features 0", lambda: MLP(0, 4, 3), "in_features", ">= 1"),
    ("mlp out_features 0", lambda: MLP(2, 4, 0), "out_features", ">= 1"),
    ("mlp width not an integer", lambda: MLP(2, 2.5, 3), "width", "an integer"),
    ("mlp depth 0", lambda: MLP(2, 4, 3, depth=0), "depth", ">= 1"),
    ("mlp unknown init", lambda: net(init="he"), "init", "'ntk2021', 'glorot', 'nobias'"),
    ("mlp unknown dtype", lambda: net(dtype="float16"), "dtype", "'float32', 'float64'"),
    ("mlp unknown device", lambda: net(device="gpu0"), "device", "'cpu', 'cuda'"),
    ("mlp negative seed", lambda: net(seed=-1), "seed", ">= 0"),
    ("vgg channels 0", lambda: VGG((8, 0), size=8), "channels", ">= 1"),
    ("vgg more pools than the size allows", lambda: VGG((4, "M", "M", "M", "M"), size=8), "channels",
     "at most 3 'M' pools"),
    ("vgg dropout 1.5", lambda: VGG((4,), size=8, dropout=1.5), "dropout", "[0, 1)"),
    ("vgg size 0", lambda: VGG((4,), size=0), "size", ">= 1"),
    ("vgg hidden 0", lambda: VGG((4,), size=8, hidden=0), "hidden", ">= 1"),
    ("myrtle width 0", lambda: Myrtle(0), "width", ">= 1"),
    ("myrtle num_classes 0", lambda: Myrtle(4, num_classes=0), "num_classes", ">= 1"),
    ("myrtle in_channels 0", lambda: Myrtle(4, in_channels=0), "in_channels", ">= 1"),
    ("myrtle dims 3", lambda: Myrtle(4, dims=3), "dims", "1, 2"),
    ("myrtle unknown dtype", lambda: Myrtle(4, dtype="bfloat16"), "dtype", "'float32', 'float64'"),
    # data
    ("spiral points 0", lambda: spiral(0), "points_per_class", ">= 1"),
    ("spiral one class", lambda: spiral(5, num_classes=1), "num_classes", ">= 2"),
    ("spiral noise nan", lambda: spiral(5, noise=math.nan), "noise", "finite"),
    ("spiral negative noise", lambda: spiral(5, noise=-0.1), "noise", ">= 0"),
    ("spiral negative seed", lambda: spiral(5, seed=-1), "seed", ">= 0"),
    ("spiral unknown dtype", lambda: spiral(5, dtype="half"), "dtype", "'float32', 'float64'"),
    ("split validation_fraction 1", lambda: spiral_split(validation_fraction=1.0), "validation_fraction", "(0, 1)"),
    ("mnist1d negative seed", lambda: mnist1d(seed=-1), "seed", ">= 0"),
    ("dataset x and y lengths differ", lambda: Dataset(x15, y15[:-1], 3), "y", "one label per sample"),
    ("dataset label >= num_classes", lambda: Dataset(x15, y15 + 3, 3), "y", "0 … num_classes − 1 = 2"),
    ("dataset negative label", lambda: Dataset(x15, y15 - 1, 3), "y", "0 … num_classes − 1"),
    ("dataset float labels", lambda: Dataset(x15, y15.double(), 3), "y", "int64"),
    ("dataset integer inputs", lambda: Dataset(y15[:, None], y15, 3), "x", "floating-point"),
    ("dataset num_classes 0", lambda: Dataset(x15, y15, 0), "num_classes", ">= 1"),
    ("dataset unknown device", lambda: small().to("gpu0"), "device", "'cpu', 'cuda'"),
    ("subset larger than a class", lambda: balanced_subset(small(), 6), "per_class", "at most 5"),
    ("negative shift", lambda: random_shift(torch.zeros(2, 1, 8), -1, torch.Generator()), "max_shift", ">= 0"),
    ("augment flat inputs", lambda: augment(torch.zeros(2, 8), 1, torch.Generator()), "x", "(N, channels, length)"),
    # training
    ("train lr nan", lambda: train_full_batch(net(), small(), None, math.nan, 2), "lr", "finite"),
    ("train lr 0", lambda: train_full_batch(net(), small(), None, 0.0, 2), "lr", "> 0"),
    ("train negative steps", lambda: train_full_batch(net(), small(), None, 1.0, -1), "steps", ">= 0"),
    ("train steps 2.7", lambda: train_full_batch(net(), small(), None, 1.0, 2.7), "steps", "an integer"),
    ("train gamma of the wrong shape", lambda: train_full_batch(net(), small(), np.ones((2, 3)), 1.0, 2), "gamma",
     "(steps + 1, C) = (3, 3)"),
    ("train gamma nan", lambda: train_full_batch(net(), small(), np.full((3, 3), np.nan), 1.0, 2), "gamma",
     "finite"),
    ("train probe every 0", lambda: train_full_batch(net(), small(), None, 1.0, 2, [probe(every=0)]), "every",
     ">= 1"),
    ("train probes with one name", lambda: train_full_batch(net(), small(), None, 1.0, 2, [probe(), probe()]),
     "probes", "distinct names"),
    ("train inputs the model does not take", lambda: train_full_batch(MLP(5, 4, 3), small(), None, 1.0, 2),
     "data.x sample shape", "fit the model's input"),
    ("train model with other classes", lambda: train_full_batch(MLP(2, 4, 2), small(), None, 1.0, 2),
     "data.num_classes", "number of outputs, 2"),
    ("train model of another dtype", lambda: train_full_batch(net(dtype="float32"), small(), None, 1.0, 2),
     "data.x dtype", "torch.float32"),
    # ensembles
    ("ensemble no seeds", lambda: EnsembleMLP.init(2, 4, 3, seeds=[]), "seeds", "non-empty"),
    ("ensemble seed not an integer", lambda: EnsembleMLP.init(2, 4, 3, seeds=[1.5]), "seeds", "integers >= 0"),
    ("ensemble in_features 0", lambda: EnsembleMLP.init(0, 4, 3, seeds=[0]), "in_features", ">= 1"),
    ("ensemble lr per member of the wrong length", lambda: train_ensemble(ens(), small(), lr=[1.0] * 3, steps=2),
     "lr", "sequence of 2"),
    ("ensemble lr text", lambda: train_ensemble(ens(), small(), lr="fast", steps=2), "lr", "a number > 0"),
    ("ensemble one negative lr", lambda: train_ensemble(ens(), small(), lr=[1.0, -1.0], steps=2), "lr", "> 0"),
    ("ensemble unknown loss", lambda: train_ensemble(ens(), small(), loss="hinge", steps=2), "loss",
     "'dce', 'dmse1', 'dmse2'"),
    ("ensemble steps 2.7", lambda: train_ensemble(ens(), small(), steps=2.7), "steps", "an integer"),
    ("ensemble record_every 0", lambda: train_ensemble(ens(), small(), steps=2, record_every=0), "record_every",
     ">= 1"),
    ("ensemble schedules of the wrong count", lambda: train_ensemble(ens(), small(), schedules=[None] * 3, steps=2),
     "schedules", "one per member (2)"),
    ("ensemble schedule with other classes",
     lambda: train_ensemble(ens(), small(), schedules=GammaSchedule(4, 2.0, 5), steps=2), "schedule num_classes",
     "3 classes"),
    ("ensemble model with other classes",
     lambda: train_ensemble(EnsembleMLP.init(2, 4, 2, seeds=[0]), small(), steps=2), "data.num_classes",
     "number of outputs, 2"),
    ("ensemble eval set with other classes",
     lambda: train_ensemble(ens(), small(), steps=2, eval_sets={"val": spiral(5, num_classes=4)}),
     "eval_sets['val']", "3 classes"),
    ("ensemble probe every 0", lambda: Probe("p", 0, lambda m, t: np.zeros(2)), "every", ">= 1"),
    ("ensemble samples_per_pass 0", lambda: EnsembleMyrtle.init(4, [0], samples_per_pass=0), "samples_per_pass", ">= 1"),
    ("ensemble evaluate batch 0", lambda: evaluate(ens(), small(), batch=0), "batch", ">= 1"),
    # the late-decay toy model
    ("toy n >= d", lambda: toy.make_problem(0, 5, 5), "n", "< d = 5"),
    ("toy no seeds", lambda: toy.make_problem((), 2, 5), "seeds", "non-empty"),
    ("toy d 0", lambda: toy.initial_points(0, 0, 1.0), "d", ">= 1"),
    ("toy init_norm inf", lambda: toy.initial_points(0, 5, math.inf), "init_norm", "finite"),
    ("toy unknown dtype", lambda: toy.make_problem(0, 2, 5, dtype="double"), "dtype", "'float32', 'float64'"),
    ("toy unknown device", lambda: toy.make_problem(0, 2, 5, device="gpu0"), "device", "'cpu', 'cuda'"),
    ("toy unknown noise", lambda: toy.Variants((1.0,), ("pink",), (0.1,), (0.1,), (3,)), "noise",
     "'label', 'plain', 'isotropic'"),
    ("toy variants of unequal lengths", lambda: toy.Variants((1.0,), ("label", "plain"), (0.1,), (0.1,), (3,)),
     "noise", "same length as exponent (1)"),
    ("toy decay_factor > 1", lambda: toy.Schedule(decay_factor=2.0), "decay_factor", "<= 1"),
    ("toy batch larger than n", lambda: toy_run(schedule=toy.Schedule(batch_size=3)), "batch_size", "<= n = 2"),
    ("toy w0 of the wrong shape", lambda: toy_run(w0=torch.ones(1, 4)), "w0", "(S, d) = (1, 5)"),
    ("toy negative until", lambda: toy_run(until=-1), "until", ">= 0"),
    ("toy grid of one point", lambda: toy.loss_grid(toy.make_problem(0, 1, 2), 1.0, (-1, 1, -1, 1), 1), "size",
     ">= 2"),
    ("toy empty extent", lambda: toy.loss_grid(toy.make_problem(0, 1, 2), 1.0, (1, 1, -1, 1), 5), "extent",
     "x0 < x1"),
    # experiment configs
    ("config unknown init", lambda: SpiralConfig(init="he"), "init", "'ntk2021'"),
    ("config lr nan", lambda: SpiralConfig(lr=math.nan), "lr", "finite"),
    ("config period 2.7", lambda: SpiralConfig(period=2.7), "period", "an integer"),
    ("config amplitude inf", lambda: SpiralConfig(amplitude=math.inf), "amplitude", "finite"),
    ("config unknown dtype", lambda: SpiralConfig(dtype="float16"), "dtype", "'float32'"),
    ("config unknown sweep loss", lambda: SweepConfig(settings=(("hinge", 1.0, 500, 1.0),)),
     "settings loss", "'dce', 'dmse1', 'dmse2'"),
    ("config record_every not a divisor", lambda: SweepConfig(steps=1000, record_every=300),
     "record_every", "a divisor of steps"),
    ("config width 0", lambda: SweepConfig(widths=(4, 0)), "widths", ">= 1"),
    ("config unknown dataset", lambda: ImageConfig(dataset="mnist"), "dataset",
     "'mnist1d', 'cifar10'"),
    ("config negative lrs", lambda: SizeLRConfig(lrs=(0.1, -1.0)), "lrs", "> 0"),
    ("config toy n >= d", lambda: DecayConfig(n=50, d=50), "n", "< d = 50"),
    ("config lr_small >= lr_large", lambda: PictureConfig(lr_small=0.5), "lr_small",
     "< lr_large"),
    ("config one snapshot", lambda: CycleConfig(snapshots=1), "snapshots", ">= 2"),
    ("config per_class 0", lambda: LateDecayNetConfig(per_class=0), "per_class", ">= 1"),
    ("config validation_fraction 1", lambda: SpiralSplitConfig(validation_fraction=1.0),
     "validation_fraction", "(0, 1)"),
    ("config steps beyond int64", lambda: SweepConfig(steps=99999999999999999999), "steps",
     "at most 9223372036854775807"),
    ("config width beyond int64", lambda: SweepConfig(widths=(4, 2 ** 70)), "widths", "at most 9223372036854775807"),
]


@pytest.mark.parametrize("call,field,allowed", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_field_and_what_is_allowed(call, field, allowed):
    with pytest.raises(ConfigError) as err:
        call()
    message = str(err.value)
    assert re.match(rf"{re.escape(field)}=", message), message
    assert allowed in message, message
    assert len(message) < 250 and "\n" not in message, message


def test_the_cases_are_distinct_kinds():
    kinds = [c[0] for c in CASES]
    assert len(set(kinds)) == len(kinds) >= 25


def test_good_inputs_next_to_the_bad_ones_are_accepted():
    """The checks are not stricter than the code: numpy integer seeds, dtype names, one learning rate per member,
    the most pools a size allows."""
    model = EnsembleMLP.init(2, 4, 3, seeds=np.arange(2))
    log = train_ensemble(model, small(), lr=[0.5, 0.5], steps=2)
    assert log.objective.shape == (3, 2)
    assert spiral(5, dtype="float32").x.dtype == torch.float32
    assert small().to("cpu", "float32").x.dtype == torch.float32
    assert toy.make_problem(range(2), 2, 5, dtype="float32").X.dtype == torch.float32
    assert VGG((4, "M", "M", "M"), size=8)(torch.zeros(1, 1, 8)).shape == (1, 10)


# CIFAR-10 batches are read by a restricted unpickler: containers, bytes, text, numbers and numpy arrays only.

def cifar_batch(n=20, seed=0):
    rng = np.random.RandomState(seed)
    return {b"batch_label": b"training batch 1 of 5", b"labels": [i % 10 for i in range(n)],
            b"data": rng.randint(0, 256, size=(n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def write_batch(path, batch, protocol=4):
    import pickle

    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return path


class Payload:
    """What a crafted batch runs on unpickling: here, a marker file would be written."""

    def __init__(self, call, marker):
        self.call, self.marker = call, marker

    def __reduce__(self):
        import os

        if self.call == "exec":
            return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)
        if self.call == "system":
            return os.system, (f"touch {self.marker}",)
        if self.call == "numpy":  # a numpy global outside the format (it could read any file)
            return np.load, (str(self.marker),)
        return getattr, (self.marker, "write_text")


@pytest.mark.parametrize("call", ["exec", "system", "numpy", "getattr"])
@pytest.mark.parametrize("where", [b"data", b"labels", b"batch_label"])
def test_a_crafted_cifar_batch_runs_no_code_and_names_the_file(tmp_path, call, where):
    from landscape.data import CifarBatchError, _read_cifar_batch

    marker = tmp_path / "ran"
    batch = cifar_batch()
    batch[where] = Payload(call, marker)
    path = write_batch(tmp_path / "data_batch_1", batch)
    with pytest.raises(CifarBatchError) as err:
        _read_cifar_batch(path)
    assert not marker.exists()
    message = str(err.value)
    assert message.startswith(f"{path}: not a CIFAR-10 batch: it asks to load ") and "could run code" in message
    assert "LANDSCAPE_CIFAR10" in err.value.hint


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_cifar_batch_reads_under_every_pickle_protocol(tmp_path, protocol):
    from landscape.data import _read_cifar_batch

    batch = cifar_batch()
    x, y = _read_cifar_batch(write_batch(tmp_path / "b", batch, protocol))
    assert x.dtype == np.uint8 and x.shape == (20, 3, 32, 32) and np.array_equal(x.reshape(20, -1), batch[b"data"])
    assert y.dtype == np.int64 and y.tolist() == batch[b"labels"]


def test_a_cifar_batch_pickled_by_numpy_1_reads(tmp_path):
    """The real batches were pickled with numpy 1.x's module names (numpy.core.multiarray), under protocol 2."""
    import pickle

    from landscape.data import _read_cifar_batch

    blob = pickle.dumps(cifar_batch(3), protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in blob
    path = tmp_path / "data_batch_1"
    path.write_bytes(blob)
    x, y = _read_cifar_batch(path)
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [0, 1, 2]


@pytest.mark.parametrize("edit, words", [
    (lambda b: b.update({b"data": b[b"data"].astype(np.float32)}), "uint8 array of shape (N, 3072), not dtype float32"),
    (lambda b: b.update({b"data": b[b"data"][:, :100]}), "not dtype uint8 and shape (20, 100)"),
    (lambda b: b.pop(b"data"), "not NoneType"),
    (lambda b: b.update({b"labels": b[b"labels"][:-1]}), "a list of 20 integers in 0 … 9"),
    (lambda b: b.update({b"labels": [10] * 20}), "a list of 20 integers in 0 … 9"),
    (lambda b: b.update({b"labels": [0.0] * 20}), "a list of 20 integers in 0 … 9"),
], ids=["float data", "short rows", "no data", "labels short", "label 10", "float labels"])
def test_a_cifar_batch_of_the_wrong_shape_is_named(tmp_path, edit, words):
    from landscape.data import CifarBatchError, _read_cifar_batch

    batch = cifar_batch()
    edit(batch)
    path = write_batch(tmp_path / "test_batch", batch)
    with pytest.raises(CifarBatchError, match="not a CIFAR-10 batch") as err:
        _read_cifar_batch(path)
    assert str(err.value).startswith(str(path)) and words in str(err.value), str(err.value)


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x80\x04K"], ids=["empty", "text", "truncated"])
def test_a_cifar_file_that_is_not_a_pickle_is_named(tmp_path, content):
    from landscape.data import CifarBatchError, _read_cifar_batch

    path = tmp_path / "data_batch_2"
    path.write_bytes(content)
    with pytest.raises(CifarBatchError, match=f"{path}: not a CIFAR-10 batch: it cannot be read"):
        _read_cifar_batch(path)
