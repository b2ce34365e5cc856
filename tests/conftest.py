import pytest
import torch

from landscape.data import spiral
from landscape.models import MLP


@pytest.fixture
def spiral_data():
    return spiral()


@pytest.fixture
def spiral_net():
    """The Fig. 4 network: 2-100-3 ReLU, 2021 init, float64 (603 parameters)."""
    return MLP(2, 100, 3, init="ntk2021", seed=0, dtype="float64")


@pytest.fixture
def tmp_store(tmp_path, monkeypatch):
    from landscape.store import Store

    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")
    return Store(tmp_path / "results")


@pytest.fixture(autouse=True)
def _restore_torch_state():
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)


def write_fake_cifar10(folder, per_batch: int = 20, seed: int = 0):
    """A tiny CIFAR-10 in the standard python-pickle format (5 training batches + test_batch), balanced labels."""
    import pickle

    import numpy as np

    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.randint(0, 256, size=(per_batch, 3072), dtype=np.uint8),
                 b"labels": [i % 10 for i in range(per_batch)], b"batch_label": name.encode()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder


@pytest.fixture
def fake_cifar10(tmp_path, monkeypatch):
    folder = write_fake_cifar10(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("LANDSCAPE_CIFAR10", str(folder))
    return folder


@pytest.fixture
def results(tmp_path, monkeypatch):
    """An empty results folder, named to the command line and the runner by LANDSCAPE_RESULTS."""
    root = tmp_path / "results"
    root.mkdir()
    monkeypatch.setenv("LANDSCAPE_RESULTS", str(root))
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")
    return root


class SmokeResults:
    """name -> that experiment's smoke result, computed from scratch once per test session into a temporary store
    (LANDSCAPE_COMPUTE=auto, on the CPU, with a fake CIFAR-10 for the experiments that read one). Under pytest-xdist
    every worker reads the same store: the first worker to ask for a result computes it under a file lock, the
    others wait and load it, so each smoke experiment runs once per `make test`."""

    def __init__(self, root):
        from landscape.store import Store

        self.root, self.store, self._loaded = root, Store(root / "results"), {}
        self.cifar10 = root / "cifar-10-batches-py"

    def __getitem__(self, name):
        from filelock import FileLock

        from landscape.runner import load_or_run

        if name not in self._loaded:
            with FileLock(self.root / "cifar10.lock"):
                if not self.cifar10.exists():
                    write_fake_cifar10(self.cifar10.with_name("cifar10.partial"))
                    self.cifar10.with_name("cifar10.partial").rename(self.cifar10)
            with FileLock(self.root / f"{name}.lock"), pytest.MonkeyPatch.context() as mp:
                mp.setenv("LANDSCAPE_COMPUTE", "auto")
                mp.setenv("LANDSCAPE_CIFAR10", str(self.cifar10))
                self._loaded[name] = load_or_run(name, "smoke", store=self.store, device="cpu", progress=False)
        return self._loaded[name]


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """The smoke results of the experiments (SmokeResults), shared by test_experiments and test_plotting and, under
    pytest-xdist, by every worker of the session (their common base folder)."""
    import os

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "smoke-results"
    root.mkdir(exist_ok=True)
    return SmokeResults(root)
