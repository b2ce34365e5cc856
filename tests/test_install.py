"""A light install: `pip install` of the package alone, in a fresh virtual environment, brings torch and numpy (and
what torch needs) — no plotting, dataframe, cluster or data-set packages — and the library API runs there."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# torch's own requirements, and what a fresh venv has; nothing else may come with `pip install landscape`
ALLOWED = {"landscape", "torch", "numpy", "filelock", "fsspec", "jinja2", "markupsafe", "mpmath", "networkx", "sympy",
           "typing-extensions", "typing_extensions", "pip", "setuptools", "wheel"}
NOT_WANTED = {"pandas", "dask", "distributed", "dask-jobqueue", "seaborn", "matplotlib", "mnist1d", "tornado", "scipy",
              "scikit-learn", "tqdm", "pyhessian"}

LIBRARY_USE = r"""
import sys
import torch
from torch import nn
import landscape
from landscape.training import train_full_batch
from landscape.data import Dataset

torch.manual_seed(0)
x, y = torch.randn(64, 5, dtype=torch.float64), torch.randint(0, 3, (64,))
model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3)).double()
loss_fn = landscape.DynamicalCrossEntropy(num_classes=3, amplitude=10.0, period=2, steps_per_epoch=4)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(3):
    for xb, yb in zip(x.split(16), y.split(16)):
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()
        loss_fn.step()
top = landscape.hessian_eigenvalues(model, nn.CrossEntropyLoss(), (x, y), k=2)
trace = landscape.hessian_trace(model, loss_fn.at(5), list(zip(x.split(16), y.split(16))), samples=10)
spectrum = landscape.hessian_spectrum(model, nn.CrossEntropyLoss(), (x, y), vectors=2, steps=10)
ntk = landscape.empirical_ntk(model, x[:8])
log = train_full_batch(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double(), Dataset(x, y, 3), None,
                       0.1, 5)
heavy = sorted(m for m in ("pandas", "matplotlib", "seaborn", "scipy", "dask", "tqdm", "mnist1d") if m in sys.modules)
print(loss_fn.t, tuple(top.values.shape), tuple(trace.value.shape), tuple(spectrum.nodes.shape), tuple(ntk.shape),
      len(log.objective), heavy)
"""


def link_installed(names, python) -> None:
    """Link the distributions `names` of this environment (their packages and metadata) into the fresh venv of
    `python`, as pip would install them from its cache — without unpacking torch's wheel again (about a minute).
    pip then resolves the package's requirements against them and installs whatever else it requires from the index,
    which the test's package list would show."""
    from importlib import metadata

    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        root = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files or () if not str(f).startswith("..")}:
            if not (site / top).exists() and (root / top).exists():
                (site / top).symlink_to(root / top)


@pytest.mark.slow
def test_pip_install_of_the_package_alone_is_light_and_runs_the_library(tmp_path):
    package = tmp_path / "package"  # the package as pip would get it from a checkout (no build files left here)
    shutil.copytree(REPO / "src", package / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "pyproject.toml", package / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    python = venv / "bin" / "python"
    link_installed(ALLOWED - {"landscape", "pip", "setuptools", "wheel"}, python)
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(package)], capture_output=True,
                             text=True, env=env, timeout=1200)
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            check=True, env=env).stdout.split()
    names = {line.split("==")[0].lower() for line in listed}
    assert names & NOT_WANTED == set() and names <= ALLOWED, sorted(names - ALLOWED)
    run = subprocess.run([str(python), "-c", LIBRARY_USE], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[0] == "12 (2,) () (2, 10) (8, 8) 6 []"


def test_make_install_pins_every_extra():
    """`make install` installs requirements.txt: it pins every package the extras name (what the book needs)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = {line.split("==")[0].strip().lower() for line in (REPO / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    assert set(project["dependencies"]) == {"torch==2.13.0", "numpy"}
    extras = project["optional-dependencies"]
    assert {"book", "dask", "mnist1d", "test"} <= set(extras)
    for extra, requirements in extras.items():
        for requirement in requirements:
            name = requirement.split("==")[0].split("[")[0].strip().lower()
            assert name == "landscape" or name in pinned, f"[{extra}] {name} is not pinned in requirements.txt"
    makefile = (REPO / "Makefile").read_text()
    assert "-r requirements.txt" in makefile and "-e '.[all]'" in makefile
