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
