"""The paper on the book's figures: Fig. 4 carries its read-offs as marks labelled "paper" (the full run, not a zoom), the
follow-up's directions and the late-decay authors' r are on their figures."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from landscape.topics.spiral.analysis import (PAPER_F_MINIMA, PAPER_HESSIAN_FINAL_CE, PAPER_NTK,  # noqa: E402
                                              PAPER_STAIRCASE, plain_ce_from)
from landscape.topics.spiral.experiment import SpiralConfig  # noqa: E402
from landscape.topics.spiral.figures import plot_fig4  # noqa: E402


class _Run:
    """A made-up stored run of the paper's length: the arrays plot_fig4 reads."""

    def __init__(self, steps=70_000):
        self.typed_config = SpiralConfig()
        t = np.arange(steps + 1)
        self._arrays = {"objective": np.exp(-t / 2e4), "accuracy": np.minimum(1 / 3 + t / 7e4, 1.0),
                        "hessian_max_steps": t[::500], "hessian_max": np.ones(len(t[::500])),
                        "ntk_max_steps": t[::500], "ntk_max": np.linspace(100, 3000, len(t[::500])),
                        "gamma": self.typed_config.schedule().gammas(t)}

    def __getitem__(self, key):
        return self._arrays[key]


def _paper_artists(fig):
    return [(ax, line) for ax in fig.axes for line in ax.lines if line.get_gid() == "paper"]


def test_the_full_run_carries_every_paper_read_off():
    fig = plot_fig4(_Run())
    ys = sorted(float(v) for _, line in _paper_artists(fig) for v in np.unique(line.get_ydata()))
    expected = [(lo + hi) / 2 for lo, hi in PAPER_STAIRCASE.values()] + list(PAPER_F_MINIMA) + list(PAPER_NTK)
    expected.append(PAPER_HESSIAN_FINAL_CE)
    assert np.allclose(ys, sorted(expected))
    plain_from = plain_ce_from(_Run()["gamma"])
    hessian_mark = [line for ax, line in _paper_artists(fig) if np.all(line.get_ydata() == PAPER_HESSIAN_FINAL_CE)]
    assert list(hessian_mark[0].get_xdata()) == [plain_from, 70_000]


def test_a_zoom_has_no_paper_marks_unless_asked():
    assert _paper_artists(plot_fig4(_Run(), zoom=(8000, 10500))) == []
    assert _paper_artists(plot_fig4(_Run(), zoom=(8000, 10500), paper=True))


def test_the_plain_phase_is_read_off_the_stored_gamma_as_the_schedule_sets_it():
    for config in (SpiralConfig(), SpiralConfig(period=50, steps=400)):
        schedule = config.schedule()
        gamma = schedule.gammas(np.arange(config.steps + 1))
        start = plain_ce_from(gamma)  # Γ ≡ 1 from here on; the step before the schedule's phase may be at 1 already
        assert schedule.plain_ce_from - 1 <= start <= schedule.plain_ce_from
        assert np.all(gamma[start:] == 1) and not np.all(gamma[start - 1] == 1)
    emphasized_to_the_end = SpiralConfig(final_plain_ce=False).schedule().gammas(np.arange(70_001))
    assert plain_ce_from(emphasized_to_the_end) is None and plain_ce_from(np.ones((10, 3))) is None


def test_the_follow_up_directions_and_the_late_decay_r_are_on_their_figures():
    from landscape.runner import load
    from landscape.topics.lrd_network.analysis import PAPER_LATE_HALF_R
    from landscape.topics.lrd_network.figures import plot_decay_sweep
    from landscape.topics.size_lr.analysis import PAPER_DIRECTIONS
    from landscape.topics.size_lr.figures import plot_size_lr

    fig = plot_size_lr(load("size_lr", "full"))
    notes = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "paper"]
    assert notes == [PAPER_DIRECTIONS["train_loss"], PAPER_DIRECTIONS["hessian_max"]]
    fig = plot_decay_sweep(load("lrd_network", "full"))
    marks = [line.get_label() for ax in fig.axes for line in ax.lines if line.get_gid() == "paper"]
    assert len(marks) == 1 and str(PAPER_LATE_HALF_R) in marks[0]
