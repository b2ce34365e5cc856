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
    assert "Contracts: 3 kept, 0 broken." in run.stdout


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
    """What the split removed: experiments/lrd_network.py importing the PCA landscape from `analysis`."""
    run = check_with(tmp_path, "experiments/lrd_network.py", "from ..analysis.sweeps import t_interval  # noqa: E402")
    assert "Contracts: 2 kept, 1 broken." in run.stdout
    assert "landscape.experiments.lrd_network -> landscape.analysis.sweeps" in run.stdout


def test_a_reader_importing_the_experiments_breaks_its_contract(tmp_path):
    """What the split removed: readers of results importing `setting_label` or a config type from `experiments`."""
    run = check_with(tmp_path, "analysis/sweeps.py", "from ..experiments.sweeps import setting_label  # noqa: E402")
    assert "Contracts: 2 kept, 1 broken." in run.stdout
    assert "landscape.analysis.sweeps -> landscape.experiments.sweeps" in run.stdout


def test_an_import_circle_breaks_the_layers_and_the_acyclic_contract(tmp_path):
    """The circle there was before the split: the results layer calling back into `load_or_run`."""
    run = check_with(tmp_path, "store.py", "from .runner import load_or_run  # noqa: E402")
    assert "Contracts: 1 kept, 2 broken." in run.stdout
    assert "landscape.store -> landscape.runner" in run.stdout
