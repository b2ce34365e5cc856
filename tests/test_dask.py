"""The same sweep on a real Dask LocalCluster (2 worker processes, one thread each) and in-process: identical stored
arrays — also when a worker process is killed in the middle of a unit (Dask reruns the unit on a worker that is
alive; nothing of the killed one is stored).

Like is compared with like: the same config, device (CPU) and dtype, and the same intra-op thread count — every unit
runs on one thread (`runtime.cpu_threads(1, …)` inside the unit), in-process as on a worker (provenance
`cpu_threads` is 1 for both). A different thread count may change the last bits of a float32 reduction."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from landscape.executor import DaskExecutor
from landscape.runner import load_or_run
from landscape.store import Store

distributed = pytest.importorskip("distributed")

# three width units of a spiral sweep, each about 2 s on one thread (measured: 2,000 steps 3.7 s of CPU, 6,000 steps
# 12 s): long enough to kill a worker well inside a unit, short enough to keep the three tests at about 20 s
SWEEP = {"widths": (8, 16, 24), "steps": 1000, "record_every": 100, "seeds": 1}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as local, distributed.Client(local) as client:
        yield client


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LANDSCAPE_COMPUTE", "auto")  # `make test` sets "never" for the stored results
        return load_or_run("capacity", "smoke", overrides=SWEEP, progress=False,
                           store=Store(tmp_path_factory.mktemp("in-process")))


def assert_identical(a, b):
    assert a.key == b.key and a.arrays.keys() == b.arrays.keys()
    for k, v in a.arrays.items():
        w = b.arrays[k]
        assert v.dtype == w.dtype and v.shape == w.shape and np.array_equal(v, w, equal_nan=v.dtype.kind == "f"), k
    assert a.summary == b.summary and a.config == b.config
    assert a.provenance["cpu_threads"] == b.provenance["cpu_threads"] == 1


@pytest.mark.slow
def test_two_worker_processes_store_the_in_process_arrays(cluster, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")
    result = load_or_run("capacity", "smoke", overrides=SWEEP, progress=False, store=Store(tmp_path),
                         executor=DaskExecutor(client=cluster))
    assert_identical(reference, result)
    assert result.provenance["units"]["count"] == 3 and "dask" in result.provenance["units"]["executor"]
    pids = cluster.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def executing(dask_worker):
    return [str(key) for key in getattr(dask_worker.state, "executing", ())]


@pytest.mark.slow
def test_a_worker_killed_mid_unit_loses_nothing(cluster, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")
    store = Store(tmp_path)
    killed = {}

    def kill_one_worker_mid_unit():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            running = {addr: keys for addr, keys in cluster.run(executing).items() if keys}
            if running:
                addr, keys = next(iter(running.items()))
                time.sleep(0.3)  # well inside the unit (each takes about 2 s)
                if cluster.run(executing, workers=[addr]).get(addr) == keys:
                    pid = cluster.run(os.getpid, workers=[addr])[addr]
                    killed.update(addr=addr, key=keys[0], pid=pid,
                                  stored_units=len(list(tmp_path.rglob("unit-*.npz"))))
                    os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_mid_unit, daemon=True)
    killer.start()
    result = load_or_run("capacity", "smoke", overrides=SWEEP, progress=False, store=store,
                         executor=DaskExecutor(client=cluster))
    killer.join(timeout=5)
    assert killed, "no worker was killed"
    assert killed["stored_units"] < 3  # it died before the run was over: its unit ran again elsewhere
    assert min(reference.provenance["units"]["wall_time_s"]) > 0.6  # the kill came well inside a unit
    assert_identical(reference, result)
    assert not list(tmp_path.rglob("unit-*")) and not list(tmp_path.rglob("*.tmp"))
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker



@pytest.mark.slow
def test_local_workers_keep_glibc_malloc_defaults():
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536, which made a sweep unit 1.2-1.35x slower on a worker."""
    executor = DaskExecutor(workers=1)
    try:
        env = executor._connect().run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                               os.environ.get("OMP_NUM_THREADS")))
    finally:
        executor.close()
    assert list(env.values()) == [(None, "1")]
