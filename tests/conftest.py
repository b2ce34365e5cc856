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
