"""Every public figure function of `landscape.plotting` and of the topics' `figures` modules draws from a smoke result
without a warning and returns its figure (panel functions that draw on a given axes return the axes); every figure
is closed afterwards.

The smoke results are computed once per session into a temporary store (the `smoke_results` fixture of
tests/conftest.py, shared with test_experiments; about 20 s on the shared 2-core CPU).
"""

import inspect
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import importlib  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from landscape import plotting as general  # noqa: E402
from landscape.topics.lrd_toy.analysis import model_checks  # noqa: E402
from landscape.topics.sweeps.analysis import final_frame, settings_of  # noqa: E402
from landscape.registry import config_from_dict  # noqa: E402
from landscape.topics.cycle.experiment import CycleConfig  # noqa: E402
from landscape.topics.lrd_toy.experiment import DecayConfig  # noqa: E402
from landscape.topics.spiral.experiment import SpiralConfig  # noqa: E402

FIGURE_MODULES = [general] + [importlib.import_module(f"landscape.topics.{topic}.figures") for topic in
                              ("amp_period", "cycle", "followup_mse", "lrd_network", "lrd_toy", "scorecard", "size_lr",
                               "spiral", "sweeps")]
# every figure function by name (the names are unique across the modules)
plotting = SimpleNamespace(**{name: f for module in FIGURE_MODULES
                              for name, f in inspect.getmembers(module, inspect.isfunction)
                              if f.__module__ == module.__name__})

SMOKE = ("spiral_dynamical", "spiral_ce", "spiral_init_table", "lrd_network", "lrd_toy_picture", "lrd_toy_decay",
         "size_lr", "capacity", "amp_period", "followup_mse", "image", "cycle")


@pytest.fixture(scope="session")
def smoke(smoke_results):
    """name -> smoke result (tests/conftest.py: computed once per session, shared with test_experiments)."""
    return {name: smoke_results[name] for name in SMOKE}


@pytest.fixture(scope="module", autouse=True)
def book_theme():
    """The book's theme, as in the chapters; matplotlib's and pandas' settings are restored afterwards."""
    with matplotlib.rc_context(), pd.option_context("display.float_format", pd.get_option("display.float_format")):
        general.set_theme()
        yield


def draw(function, *args, **kwargs):
    """Call a figure function with every warning an error; return its figure, closed."""
    before = set(plt.get_fignums())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = function(*args, **kwargs)
            fig = out.figure if isinstance(out, Axes) else out
            assert isinstance(fig, Figure), f"{function.__name__} returned {type(out).__name__}, not a Figure"
            assert fig.axes, f"{function.__name__} drew no axes"
            fig.canvas.draw()  # layout and text rendering happen here: their warnings count too
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
    assert set(plt.get_fignums()) == before
    return out


def _sweep_indices(result):
    settings = settings_of(result)
    ce = next(k for k, s in enumerate(settings) if s[1] == 1)
    return ce, [k for k, s in enumerate(settings) if s[1] > 1]


from landscape.topics.followup_mse.analysis import picked_lrs  # noqa: E402


def _loss_families(smoke):
    """The follow-up chapter's frame: MSE-family runs plus the capacity sweep's CE and DCE, with a `family` column."""
    both = pd.concat([final_frame(smoke["followup_mse"]), final_frame(smoke["capacity"])], ignore_index=True)
    both["family"] = np.select([both.loss.eq("dce") & both.amplitude.eq(1), both.loss.eq("dce"),
                                both.amplitude.eq(1), both.loss.eq("dmse1")], ["CE", "DCE", "MSE", "DMSE1"], "DMSE2")
    return both


def _figure_calls(smoke):
    """One call (function, args, kwargs) per public figure function, as the chapters make them."""
    spiral = config_from_dict(SpiralConfig, smoke["spiral_dynamical"].config)
    zoom = (spiral.steps // 2, spiral.steps)
    decay = DecayConfig()
    checks = model_checks(smoke["lrd_toy_picture"], 10, 5, decay.exponents, decay.init_norm, draws=20, sizes=(1, 5, 9))
    period = config_from_dict(CycleConfig, smoke["cycle"].config).period_index + 1
    snapshots = len(smoke["cycle"]["snapshot_steps"])
    ce, dynamical = _sweep_indices(smoke["capacity"])
    image_ce, image_dynamical = _sweep_indices(smoke["image"])
    gain_ax = lambda: plt.subplots()[1]  # noqa: E731
    return {
        "plot_gammas": (lambda: plotting.plot_gammas(spiral.schedule(), spiral.steps, ax=gain_ax()), (), {}),
        "plot_fig4": (plotting.plot_fig4, (smoke["spiral_dynamical"],),
                      {"zoom": zoom, "ce_result": smoke["spiral_ce"]}),
        "plot_init_table": (plotting.plot_init_table, (smoke["spiral_init_table"],), {}),
        "plot_decay_sweep": (plotting.plot_decay_sweep, (smoke["lrd_network"],), {}),
        "plot_pca_landscape": (plotting.plot_pca_landscape, (smoke["lrd_network"],), {}),
        "plot_interpolator_study": (plotting.plot_interpolator_study,
                                    (checks.study,), {}),
        "plot_lrd_manifold_trace": (plotting.plot_lrd_manifold_trace, (checks,), {}),
        "plot_lrd_picture": (plotting.plot_lrd_picture, (smoke["lrd_toy_picture"],), {}),
        "plot_lrd_picture_norms": (plotting.plot_lrd_picture_norms, (smoke["lrd_toy_picture"],), {}),
        "plot_lrd_decay": (plotting.plot_lrd_decay, (smoke["lrd_toy_decay"], "label"), {}),
        "plot_lrd_noise_models": (plotting.plot_lrd_noise_models, (smoke["lrd_toy_decay"],), {}),
        "plot_notes_check": (plotting.plot_notes_check, (smoke["lrd_toy_decay"],), {}),
        "plot_lrd_main_path": (plotting.plot_lrd_main_path, (smoke["lrd_toy_decay"],), {}),
        "plot_size_lr": (plotting.plot_size_lr, (smoke["size_lr"],), {}),
        "plot_accuracy_vs_width": (plotting.plot_accuracy_vs_width, (smoke["capacity"],), {}),
        "plot_paired_gain": (lambda: plotting.plot_paired_gain(smoke["capacity"], ce, dynamical, "train_accuracy",
                                                               ax=gain_ax()), (), {}),
        "plot_amp_period": (plotting.plot_amp_period, (smoke["amp_period"],), {}),
        "plot_validation_curves": (plotting.plot_validation_curves, (smoke["image"], image_ce, image_dynamical[0]), {}),
        "plot_loss_families": (plotting.plot_loss_families, (_loss_families(smoke), picked_lrs(smoke["followup_mse"])), {}),
        "plot_cycle_curvature": (plotting.plot_cycle_curvature, (smoke["cycle"], period), {}),
        "plot_cycle_profiles": (plotting.plot_cycle_profiles, (smoke["cycle"], period), {}),
        "plot_cycle_spectra": (plotting.plot_cycle_spectra, (smoke["cycle"], [0, snapshots // 2, snapshots - 2]), {}),
        "plot_verdicts": (plotting.plot_verdicts, (made_up_claims(),), {}),
    }


def made_up_claims():
    """Claims with effects of every status, as the scorecard draws them."""
    from landscape.scorecard import STATUSES, Claim

    effect = lambda m: {"estimate": m, "lower": m - 0.01, "upper": m + 0.01, "threshold": 0.01,  # noqa: E731
                        "unit": "validation accuracy"}
    return [Claim(f"dl.x.c{i}", "capacity", "p", "s", "c", status=status, title=f"A claim whose title is {status}",
                  values={"effect": effect(0.02 * i - 0.02)}) for i, status in enumerate(STATUSES)]


def test_the_verdict_figure_draws_every_effect_by_status():
    from landscape.topics.scorecard.figures import STATUS_COLORS, claim_effects

    claims = made_up_claims()
    assert len(claim_effects(claims)) == len(claims) and set(STATUS_COLORS) == {c.status for c in claims}
    claims[0].values = {"effect": {**claims[0].values["effect"], "lower": float("nan")}}  # never a silent NaN
    assert len(claim_effects(claims)) == len(claims) - 1


FIGURE_FUNCTIONS = sorted(name for module in FIGURE_MODULES
                          for name, f in inspect.getmembers(module, inspect.isfunction)
                          if name.startswith("plot_") and f.__module__ == module.__name__)


@pytest.fixture(scope="session")
def figure_calls(smoke):
    return _figure_calls(smoke)


@pytest.mark.smoke
def test_every_figure_function_is_covered(figure_calls):
    assert FIGURE_FUNCTIONS, "no figure functions found"
    assert set(FIGURE_FUNCTIONS) <= set(figure_calls), \
        f"figure functions without a test: {sorted(set(FIGURE_FUNCTIONS) - set(figure_calls))}"


@pytest.mark.smoke
@pytest.mark.parametrize("name", FIGURE_FUNCTIONS)
def test_figure_function_draws_from_a_smoke_result(name, figure_calls):
    function, args, kwargs = figure_calls[name]
    out = draw(function, *args, **kwargs)
    if name in ("plot_gammas", "plot_paired_gain"):  # panel functions: they draw on the axes they are given
        assert isinstance(out, Axes)
    else:
        assert isinstance(out, Figure)


@pytest.mark.smoke
@pytest.mark.parametrize("name", [n for n in FIGURE_FUNCTIONS if n not in ("plot_gammas", "plot_paired_gain")])
def test_figure_text_is_readable_at_the_books_width(name, figure_calls):
    """At the width the book shows it (BOOK_WIDTH_PX at a 1,400 px window) every text of the figure is at least
    MIN_TEXT_PX tall, and no figure has more than MAX_PANELS panels."""
    function, args, kwargs = figure_calls[name]
    before = set(plt.get_fignums())
    try:
        fig = function(*args, **kwargs)
        assert general.displayed_text_px(fig) >= general.MIN_TEXT_PX, (name, general.displayed_text_px(fig))
        assert general.panel_count(fig) <= general.MAX_PANELS, (name, general.panel_count(fig))
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def test_displayed_text_px_scales_wide_figures_down():
    with matplotlib.rc_context({"figure.dpi": general.FIGURE_DPI}):
        narrow, ax = plt.subplots(figsize=(general.BOOK_WIDTH_PX / general.FIGURE_DPI, 3))
        ax.set_title("t", fontsize=9)
        wide, ax = plt.subplots(figsize=(2 * general.BOOK_WIDTH_PX / general.FIGURE_DPI, 3))
        ax.set_title("t", fontsize=9)
        ax.tick_params(labelsize=9)
        try:
            assert general.displayed_text_px(narrow) <= 9 * general.FIGURE_DPI / 72 + 1e-9
            assert abs(general.displayed_text_px(wide) - 9 * general.FIGURE_DPI / 72 / 2) < 1e-9
            assert general.panel_count(wide) == 1
        finally:
            plt.close(narrow)
            plt.close(wide)


def test_confidence_band_can_be_clipped():
    mean, lo, hi = general.mean_confidence_band(np.array([[0.98, 1.0, 1.0, 0.9]]), clip=(0, 1))
    assert hi.max() <= 1 and lo.min() >= 0 and mean[0] == pytest.approx(0.97)
    assert general.mean_confidence_band(np.array([[0.98, 1.0, 1.0, 0.9]]))[2][0] > 1  # what the clip removed


def test_confidence_band_is_the_books_t_interval():
    """One interval in the book: the band of a curve is statistics.t_interval at every step (Student t, so wider
    than ±1.96 SE for few runs), NaN runs dropped, a single run a band of zero width."""
    from landscape.statistics import t_interval

    runs = np.array([0.2, 0.5, 0.1, 0.4, 0.35])
    mean, lo, hi = general.mean_confidence_band(runs)
    assert (mean, lo, hi) == t_interval(runs)
    se = runs.std(ddof=1) / np.sqrt(len(runs))
    assert hi - mean > 1.96 * se and hi - mean == pytest.approx(2.776 * se, rel=1e-3)  # t(0.975, 4) = 2.776
    curves = np.array([[0.2, np.nan, 0.1, 0.4], [np.nan, 0.3, np.nan, np.nan], [np.nan, np.nan, np.nan, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" or "degrees of freedom" warning
        mean, lo, hi = general.mean_confidence_band(curves, axis=1)
    assert (mean[0], lo[0], hi[0]) == pytest.approx(t_interval(curves[0]), rel=1e-12)
    assert mean[1] == lo[1] == hi[1] == 0.3 and np.isnan([mean[2], lo[2], hi[2]]).all()
    steps_by_runs = np.array([[0.5], [0.7]])  # n = 1 at every step
    mean, lo, hi = general.mean_confidence_band(steps_by_runs)
    assert np.array_equal(mean, [0.5, 0.7]) and np.array_equal(lo, mean) and np.array_equal(hi, mean)
