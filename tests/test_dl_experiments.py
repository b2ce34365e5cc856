"""Configs of the ensemble experiments: bad input is rejected with the field's name; groups resume."""

import numpy as np
import pytest
import torch

from landscape.experiments.common import SpiralSplitConfig, run_groups, stack_groups
from landscape.experiments.size_lr import SizeLRConfig
from landscape.store import Checkpoint
from landscape.validation import ConfigError


@pytest.mark.parametrize("kwargs,field", [
    (dict(widths=()), "widths"), (dict(widths=(8, 0)), "widths"), (dict(lrs=(0.1, -1.0)), "lrs"),
    (dict(lrs=(float("inf"),)), "lrs"), (dict(seeds=0), "seeds"), (dict(steps=100, record_every=30), "record_every"),
    (dict(init="he"), "init"), (dict(dtype="float16"), "dtype"),
])
def test_size_lr_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        SizeLRConfig(**kwargs)


@pytest.mark.parametrize("kwargs,field", [(dict(validation_fraction=0.0), "validation_fraction"),
                                          (dict(points_per_class=1), "points_per_class"),
                                          (dict(noise=-0.1), "noise")])
def test_spiral_split_config_names_the_bad_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        SpiralSplitConfig(**kwargs)


class Interrupt(Exception):
    pass


def test_run_groups_resumes_after_the_finished_groups(tmp_path):
    calls = []

    def group(i, fail=False):
        def run(checkpoint, progress):
            calls.append(i)
            if fail:
                raise Interrupt
            return {"x": np.full(3, i, dtype=np.float64)}
        return run

    checkpoint = Checkpoint(tmp_path / "sweep.pt", every_s=0.0)
    with pytest.raises(Interrupt):
        run_groups([group(0), group(1), group(2, fail=True)], progress=False, checkpoint=checkpoint, description="")
    out = run_groups([group(0), group(1), group(2)], progress=False, checkpoint=checkpoint, description="")
    assert calls == [0, 1, 2, 2]
    assert stack_groups(out)["x"].tolist() == [[0] * 3, [1] * 3, [2] * 3]


def test_stack_groups_pads_ragged_arrays_with_nan():
    out = stack_groups([{"a": np.ones((2, 3))}, {"a": np.ones((2, 1))}])
    assert out["a"].shape == (2, 2, 3) and np.isnan(out["a"][1, :, 1:]).all()
