"""The notebook check compares numbers at a stated precision: glued floats carry `SIGNIFICANT` significant digits,
so rounding noise passes and a change of 1e-3 relative always fails. Proven for the rounding itself, then end to
end: nbval on a copy of a chapter whose stored glued number, or the number it computes, is moved."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from landscape.display import SIGNIFICANT, below, rounded

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "dynamical_loss.ipynb"  # seconds to run, no stored results needed
GLUED = "peak_gamma"  # one of its glued floats
RECORD = "application/papermill.record/text/plain"  # the mime type nbval compares for a glued value


def hard_values(rng) -> np.ndarray:
    """Floats of both signs over 60 decades, many next to a rounding boundary or a power of ten."""
    exponents = rng.integers(-30, 30, 20_000)
    log_uniform = 10.0 ** rng.uniform(-30, 30, 20_000)
    mantissas = rng.integers(10_000, 100_000, 20_000) + 0.5 + rng.uniform(-1e-6, 1e-6, 20_000)  # × 1e-4: in [1, 10)
    halfway = mantissas * 10.0 ** (exponents - 4)
    decade = (1 - rng.uniform(0, 2e-5, 20_000)) * 10.0 ** exponents
    values = np.concatenate([log_uniform, halfway, decade])
    return values * rng.choice([-1, 1], values.size)


def test_glue_precision_is_stated():
    assert SIGNIFICANT == 5
    assert repr(rounded(0.31669252140673454)) == "0.31669"
    assert repr(rounded(-0.6661032194063289)) == "-0.6661"
    assert repr(rounded(np.float32(3542.9959))) == "3543.0"
    assert rounded([1.1381069420224321e-09, 7, "text"]) == [1.1381e-09, 7, "text"]
    assert rounded(True) is True and np.isnan(rounded(float("nan")))


@pytest.mark.parametrize("change", [1e-3, -1e-3, 1.0001e-4, -1.0001e-4])
def test_every_change_of_1e_3_changes_the_glued_text(change):
    """x and x' = x(1 + δ) with the same text r: |x − x'| ≤ |x − r| + |r − x'| ≤ (s + s')/2, with rounding steps
    s ≤ 1e-4 |x| and s' ≤ 1e-4 |x'|; so |δ| ≤ 1e-4 (1 + |δ|/2), i.e. |δ| < 1.0001e-4. Every relative change of at
    least 1.0001e-4 (1e-3 with a factor 10 to spare) changes the text, wherever x lies."""
    values = hard_values(np.random.default_rng(0))
    unchanged = [x for x in values if repr(rounded(x * (1 + change))) == repr(rounded(x))]
    assert unchanged == []


def test_rounding_noise_rarely_reaches_the_glued_text():
    """A relative change ε moves the text only when a rounding boundary lies within ε|x|: probability ≤ ε·1e5
    (boundaries at least 1e-5 |x| apart), 1e-7 for noise of 1e-12."""
    values = 10.0 ** np.random.default_rng(1).uniform(-30, 30, 100_000)
    moved = [x for x in values if rounded(x * (1 + 1e-12)) != rounded(x)]
    assert moved == []
    coarse = [x for x in values if rounded(x * (1 + 1e-7)) != rounded(x)]  # the bound is not loose by much
    assert 0 < len(coarse) <= 1e-7 * 1e5 * len(values)


def test_below_states_a_bound_that_holds():
    assert below(4.4e-30, 1e-24) == "1e-24" and below(-1.1e-9, 1e-8) == "1e-8"
    with pytest.raises(ValueError, match="not below 1e-13"):
        below(2e-13, 1e-13)


def stored_glue(notebook: dict, name: str) -> dict:
    """The stored output that holds the glued value `name`."""
    return next(out for cell in notebook["cells"] if cell["cell_type"] == "code" for out in cell["outputs"]
                if out.get("metadata", {}).get("scrapbook", {}).get("name") == name)


def nbval(folder: Path) -> subprocess.CompletedProcess:
    """nbval on the notebooks in `folder`, in a fresh pytest whose kernel imports the package of this checkout and
    runs the IPython startup files under folder/ipython only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               IPYTHONDIR=str(folder / "ipython"), LANDSCAPE_COMPUTE="never")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
                           "-q", str(folder / CHAPTER.name)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("stored_change, computed_change, passes", [
    (0.0, 0.0, True),  # control: the copy as committed
    (1e-3, 0.0, False),  # the stored glued number moved by 1e-3
    (0.0, 1e-12, True),  # the computed number moved by rounding noise
    (0.0, -1e-3, False),  # the computed number moved by 1e-3
], ids=["unchanged", "stored+1e-3", "computed+1e-12", "computed-1e-3"])
def test_notebook_check_fails_on_a_real_change_only(tmp_path, stored_change, computed_change, passes):
    notebook = json.loads(CHAPTER.read_text())
    record = stored_glue(notebook, GLUED)["data"]
    stored = float(record[RECORD])
    assert record[RECORD] == repr(rounded(stored))  # the chapter stores the glue precision
    record[RECORD] = repr(rounded(stored * (1 + stored_change)))
    (tmp_path / CHAPTER.name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False))
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    if computed_change:  # what other CPU kernels (or a code change) do: the glued value comes out different
        (startup / "00-move-glued-value.py").write_text(
            "import landscape.display\n"
            "_glue = landscape.display.glue\n"
            "landscape.display.glue = lambda name, value, display=True: _glue(\n"
            f"    name, value * (1 + {computed_change!r}) if name == {GLUED!r} else value, display)\n")

    run = nbval(tmp_path)
    report = run.stdout + run.stderr
    if passes:
        assert run.returncode == 0 and " passed" in report and "failed" not in report, report
    else:  # failed on the glued value: its committed text is one side of the reported difference
        assert run.returncode == 1 and f"mismatch '{RECORD}'" in report and f"'{stored!r}'" in report, report
