import numpy as np
import pytest
import torch

from landscape.data import spiral
from landscape.losses import GammaSchedule
from landscape.models import MLP
from landscape.runtime import Checkpoint
from landscape.training import Probe, train_full_batch
from landscape.validation import ConfigError

from single_thread import one_thread  # noqa: F401  (autouse)


def test_plain_gd_step_matches_manual_update(spiral_data):
    model, reference = MLP(2, 8, 3, seed=0), MLP(2, 8, 3, seed=0)
    log = train_full_batch(model, spiral_data, None, lr=0.5, steps=1)
    loss = torch.nn.functional.cross_entropy(reference(spiral_data.x), spiral_data.y)
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    for p, q, g in zip(model.parameters(), reference.parameters(), grads):
        torch.testing.assert_close(p, q - 0.5 * g)
    assert log.objective[0] == pytest.approx(loss.item()) and len(log.objective) == 2


def test_probes_run_on_their_schedule(spiral_data):
    calls = []
    probe = Probe("step", 4, lambda m, t: calls.append(t) or t)
    log = train_full_batch(MLP(2, 8, 3), spiral_data, None, lr=0.1, steps=10, probes=[probe])
    assert calls == [0, 4, 8, 10]
    assert log.probes["step"][0].tolist() == [0, 4, 8, 10]


def test_a_diverging_run_is_recorded_not_raised(spiral_data):
    log = train_full_batch(MLP(2, 100, 3, seed=0), spiral_data, None, lr=1e300, steps=300,
                           probes=[Probe("noop", 50, lambda m, t: 0.0)])
    assert log.diverged_at is not None and 0 < log.diverged_at <= 300
    assert len(log.objective) == log.diverged_at and np.isfinite(log.objective).all()
    assert np.all(log.probes["noop"][0] < log.diverged_at)


def test_bad_training_inputs(spiral_data):
    with pytest.raises(ConfigError, match="lr"):
        train_full_batch(MLP(2, 8, 3), spiral_data, None, lr=float("inf"), steps=3)
    with pytest.raises(ConfigError, match="steps"):
        train_full_batch(MLP(2, 8, 3), spiral_data, None, lr=0.1, steps=-1)
    with pytest.raises(ConfigError, match=r"^gamma=\(3, 3\).*shape \(steps \+ 1, C\) = \(6, 3\)"):
        train_full_batch(MLP(2, 8, 3), spiral_data, np.ones((3, 3)), lr=0.1, steps=5)


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, spiral_data):
    gamma = GammaSchedule(3, 70.0, 50).gammas(np.arange(401))
    reference = train_full_batch(MLP(2, 20, 3, seed=1), spiral_data, gamma, 1.0, 400,
                                 [Probe("ntk", 7, lambda m, t: float(m[0].weight.detach().sum()))])

    def boom(m, t):
        if t >= 250:
            raise Interrupt
        return float(m[0].weight.detach().sum())

    checkpoint = Checkpoint(tmp_path / "partial.pt", every_s=0.0)
    with pytest.raises(Interrupt):
        train_full_batch(MLP(2, 20, 3, seed=1), spiral_data, gamma, 1.0, 400, [Probe("ntk", 7, boom)],
                         checkpoint=checkpoint)
    state = checkpoint.load()
    assert state is not None and 100 < state["next_step"] <= 250
    resumed = train_full_batch(MLP(2, 20, 3, seed=99), spiral_data, gamma, 1.0, 400,
                               [Probe("ntk", 7, lambda m, t: float(m[0].weight.detach().sum()))], checkpoint=checkpoint)
    np.testing.assert_array_equal(resumed.objective, reference.objective)
    np.testing.assert_array_equal(resumed.probes["ntk"][1], reference.probes["ntk"][1])


def test_the_fit_check_leaves_module_modes_alone(spiral_data):
    """train_full_batch checks the model on one sample in eval mode, then restores each module's own mode."""
    model = MLP(2, 8, 3)
    model[1].eval()  # a mixed model: the ReLU in eval mode, the rest training
    train_full_batch(model, spiral_data, None, lr=0.1, steps=1)
    assert model.training and model[0].training and not model[1].training


def test_recorders_keep_their_values_with_the_curves_and_resume(tmp_path):
    """A Recorder sees the step's objective and logits (no extra pass): recording the objective gives the curve; a
    second one, per member, goes into the log's `recorded` and its arrays, and survives an interrupted run."""
    from landscape.ensemble import EnsembleMLP, train_ensemble
    from landscape.training import Recorder

    data = spiral(30, seed=0)
    recorders = [Recorder("objective_again", lambda t, obj, logits, model: obj),
                 Recorder("logit_norm", lambda t, obj, logits, model: logits.norm(dim=(1, 2)))]
    options = dict(lr=[0.5, 1.0], steps=40, record_every=10)
    plain = train_ensemble(EnsembleMLP.init(2, 8, 3, [0, 1], dtype="float64"), data, **options)
    log = train_ensemble(EnsembleMLP.init(2, 8, 3, [0, 1], dtype="float64"), data, recorders=recorders, **options)
    np.testing.assert_array_equal(log.objective, plain.objective)  # recorders change nothing else
    np.testing.assert_array_equal(log.recorded["objective_again"], log.objective)
    assert log.recorded["logit_norm"].shape == (5, 2) and np.isfinite(log.recorded["logit_norm"]).all()
    assert "logit_norm" in log.arrays()
    checkpoint = Checkpoint(tmp_path / "run.pt", every_s=0.0)

    class Stop(Exception):
        pass

    def stop_at_30(t, obj, logits, model):
        if t == 30 and not stopped:
            stopped.append(t)
            raise Stop
        return obj

    stopped = []
    with pytest.raises(Stop):
        train_ensemble(EnsembleMLP.init(2, 8, 3, [0, 1], dtype="float64"), data, checkpoint=checkpoint,
                       recorders=[Recorder("objective_again", stop_at_30), recorders[1]], **options)
    resumed = train_ensemble(EnsembleMLP.init(2, 8, 3, [0, 1], dtype="float64"), data, checkpoint=checkpoint,
                             recorders=[Recorder("objective_again", stop_at_30), recorders[1]], **options)
    for name in ("objective_again", "logit_norm"):
        np.testing.assert_array_equal(resumed.recorded[name], log.recorded[name])
    with pytest.raises(ConfigError, match="distinct"):
        train_ensemble(EnsembleMLP.init(2, 8, 3, [0, 1]), data, recorders=recorders[:1] * 2, steps=2)
