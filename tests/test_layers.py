"""The package's layers (pyproject.toml, [tool.importlinter]; docs/DESIGN.md, "Layers") hold, and the check can fail."""

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import landscape

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, config: Path, src: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}  # the package under `src`, ahead of the installed one
    return subprocess.run([str(LINT_IMPORTS), "--config", str(config), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def contracts() -> dict:
    return {c["id"]: c for c in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
            ["contracts"]}


def test_the_layers_hold():
    run = lint_imports(REPO, REPO / "pyproject.toml", REPO / "src")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 6 kept, 0 broken." in run.stdout


def test_every_module_of_the_package_is_in_a_layer():
    """A new module has to be given its place: the layers name every top-level module and subpackage, once."""
    named = [name.strip() for layer in contracts()["layers"]["layers"] for name in layer.split("|")]
    modules = {m.name for m in pkgutil.iter_modules(landscape.__path__)}
    assert len(named) == len(set(named))
    assert set(named) == modules


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "src" / "landscape", tmp_path / "src" / "landscape",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "src" / "landscape"


def add_import(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}\n")


def check_with(tmp_path, module: str, line: str) -> subprocess.CompletedProcess:
    """lint-imports on a copy of the package with `line` added to `module`."""
    package = copy_of_the_package(tmp_path)
    add_import(package / module, line)
    run = lint_imports(tmp_path, tmp_path / "pyproject.toml", tmp_path / "src")
    assert run.returncode == 1, run.stdout + run.stderr
    return run


def test_an_experiment_importing_the_analysis_breaks_the_layers(tmp_path):
    """What the split removed: an experiment importing a reader of results (here its own topic's analysis)."""
    run = check_with(tmp_path, "topics/lrd_toy/experiment.py", "from .analysis import final  # noqa: E402")
    assert "Contracts: 5 kept, 1 broken." in run.stdout
    assert "landscape.topics.lrd_toy.experiment -> landscape.topics.lrd_toy.analysis" in run.stdout


def test_a_reader_importing_the_experiments_breaks_its_contract(tmp_path):
    """What the split removed: readers of results importing `setting_label` or a config type from an experiment."""
    run = check_with(tmp_path, "topics/sweeps/analysis.py", "from .experiment import setting_label  # noqa: E402")
    assert "Contracts: 4 kept, 2 broken." in run.stdout
    assert "landscape.topics.sweeps.analysis -> landscape.topics.sweeps.experiment" in run.stdout


def test_a_topic_reading_another_unlisted_topic_breaks_their_independence(tmp_path):
    """Topics read each other only where the contract lists it (cycle reads the spiral run, …)."""
    run = check_with(tmp_path, "topics/lrd_network/claims.py", "from ..sweeps.analysis import t_interval  # noqa: E402")
    assert "Contracts: 5 kept, 1 broken." in run.stdout
    assert "landscape.topics.lrd_network.claims -> landscape.topics.sweeps.analysis" in run.stdout


def test_a_general_module_importing_a_topic_breaks_the_layers(tmp_path):
    """The general tools stay below the topics: the runner may not reach into a topic (a circle too, and every topic
    would reach the spiral topic through it)."""
    run = check_with(tmp_path, "runner.py", "from .topics.spiral.experiment import FIG4  # noqa: E402")
    assert "Contracts: 3 kept, 3 broken." in run.stdout
    assert "landscape.runner -> landscape.topics.spiral.experiment" in run.stdout


def test_an_import_circle_breaks_the_layers_and_the_acyclic_contract(tmp_path):
    """The circle there was before the split: the results layer calling back into `load_or_run`."""
    run = check_with(tmp_path, "store.py", "from .runner import load_or_run  # noqa: E402")
    assert "Contracts: 4 kept, 2 broken." in run.stdout
    assert "landscape.store -> landscape.runner" in run.stdout


def test_the_claims_importing_their_views_breaks_the_scorecards_layers(tmp_path):
    """The views read the claims, never the other way: the claims stay what the topics import."""
    run = check_with(tmp_path, "scorecard/claims.py", "from .views import ClaimsView  # noqa: E402")
    assert "Contracts: 4 kept, 2 broken." in run.stdout  # the scorecard's layers, and a circle
    assert "landscape.scorecard.claims -> landscape.scorecard.views" in run.stdout
