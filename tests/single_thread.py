"""An autouse fixture for test modules of small nets: `from single_thread import one_thread  # noqa: F401`."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Small nets run fastest, and steadiest on a shared CPU, on one thread (the count is restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
