"""Every executor path ends within a bound (issue #20): a port that accepts connections but is no Dask scheduler (a
real listening socket on 127.0.0.1), batch jobs whose submit command is missing, fails or hangs (real scripts on the
PATH), and more workers than units. Each ends in the CLI's two lines, in seconds."""

import os
import socket
import threading
import time

import pytest

import landscape.executor as executor_module
from landscape.executor import DaskExecutor, probe_scheduler

distributed = pytest.importorskip("distributed")


from functools import partial

from cli_helpers import run_cli, short_error as _short_error

short_error = partial(_short_error, notes=True)


@pytest.fixture
def fake_server():
    """A real TCP server on 127.0.0.1 (and only there) that accepts connections and then, by `mode`, says nothing,
    answers as a web server, or hangs up. Stopped after the test."""
    servers = []

    def start(mode):
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(0.2)
        stop, held = threading.Event(), []

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except (socket.timeout, OSError):
                    continue
                if mode == "http":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                if mode == "close":
                    conn.close()
                else:
                    held.append(conn)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((server, stop, thread, held))
        return f"tcp://127.0.0.1:{server.getsockname()[1]}"

    yield start
    for server, stop, thread, held in servers:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("mode, words", [
    ("silent", ["accepts connections but did not answer as a Dask scheduler within 1 s"]),
    ("http", ["did not answer as a Dask scheduler", "not Dask's protocol"]),
    ("close", ["did not answer as a Dask scheduler", "closed the connection"]),
])
def test_a_port_that_is_not_a_dask_scheduler_is_a_short_error_within_the_timeout(capsys, results, monkeypatch,
                                                                                  fake_server, mode, words):
    monkeypatch.setattr(executor_module, "HANDSHAKE_TIMEOUT_S", 1.0)
    address = fake_server(mode)
    start = time.monotonic()
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", "--scheduler", address)
    assert code == 2 and time.monotonic() - start < 10
    lines = short_error(err, address, *words)
    assert lines[1].startswith("fix: check the address given to --scheduler")
    assert not list(results.rglob("plan.json"))  # a run that never started leaves no plan


def test_nothing_listening_is_a_short_error_at_once(capsys, results):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]  # closed below: nothing listens there then
    start = time.monotonic()
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", "--scheduler",
                           f"127.0.0.1:{port}")
    assert code == 2 and time.monotonic() - start < 5
    short_error(err, f"cannot reach a Dask scheduler at tcp://127.0.0.1:{port}", "refused")


def test_a_real_scheduler_passes_the_handshake_and_a_worker_does_not():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address=":0", silence_logs=50) as cluster:
        assert probe_scheduler(cluster.scheduler_address, 5)["type"] == "Scheduler"
        worker = next(iter(cluster.scheduler_info["workers"]))
        with pytest.raises(executor_module.UserError, match="answered as Worker, not as a Dask scheduler"):
            probe_scheduler(worker, 5)


@pytest.mark.parametrize("kind, command", [("slurm", "sbatch"), ("pbs", "qsub")])
def test_a_missing_submit_command_is_a_short_error_before_anything_starts(capsys, results, monkeypatch, tmp_path,
                                                                          kind, command):
    def started(*args, **kwargs):
        raise AssertionError("a jobqueue cluster was started")

    monkeypatch.setattr(executor_module, "jobqueue_cluster", started)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no qsub
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", "--jobqueue", kind)
    lines = short_error(err, f"--jobqueue {kind} submits batch jobs with {command}, which is not on the PATH")
    assert code == 2 and "--workers N" in lines[1]
    assert not list(results.rglob("plan.json"))


def fake_submit(tmp_path, monkeypatch, body):
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "sbatch"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("body, words", [
    ('echo "sbatch: error: Batch job submission failed: Invalid account" >&2\nexit 1\n',
     ["sbatch could not submit the slurm jobs (sbatch: error: Batch job submission failed: Invalid account)"]),
    ("exec sleep 5\n", ["sbatch could not submit the slurm jobs", "after 1 s"]),
    ('echo "no job id here"\n', ["sbatch could not submit the slurm jobs", "job id"]),
], ids=["fails", "hangs", "garbage"])
def test_a_failing_or_hanging_submission_is_a_short_error(capsys, results, monkeypatch, tmp_path, body, words):
    fake_submit(tmp_path, monkeypatch, body)
    monkeypatch.setattr(executor_module, "SUBMIT_TIMEOUT_S", 1.0)
    start = time.monotonic()
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", "--jobqueue", "slurm")
    assert code == 2 and time.monotonic() - start < 20
    lines = short_error(err, *words)
    assert "jobqueue.yaml" in lines[1]


def test_workers_are_capped_at_the_units_and_warned_above_the_cores(monkeypatch, capsys):
    asked = {}

    class Refused(Exception):
        pass

    def local_cluster(**kwargs):
        asked.update(kwargs)
        raise Refused  # what was asked is enough; no processes start

    monkeypatch.setattr(distributed, "LocalCluster", local_cluster)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for units, started, warned in ((3, 3, True), (2, 2, False), (5000, 1000, True)):
        with pytest.raises(Refused):
            DaskExecutor(workers=1000)._connect(units)
        err = capsys.readouterr().err
        assert asked["n_workers"] == started
        assert ("note: " in err) == (started < 1000)
        assert ("warning: " in err and f"{started} worker processes on 2 CPU cores" in err) == warned


@pytest.mark.slow
def test_a_thousand_workers_for_one_unit_start_one(results, capsys):
    from landscape.runner import load_or_run

    start = time.monotonic()
    result = load_or_run("capacity", "smoke", overrides={"widths": (4,), "steps": 100}, progress=False,
                         executor=DaskExecutor(workers=1000))
    assert result.provenance["units"]["executor"].startswith("dask LocalCluster, 1 worker process(es)")
    assert "note: 1 workers started, not 1000" in capsys.readouterr().err and time.monotonic() - start < 60
