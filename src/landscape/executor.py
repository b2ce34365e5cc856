"""Where an experiment's units of work run: here, one after the other (`InProcess`, the default), or on Dask
(`DaskExecutor`): a local cluster of worker processes (`--workers N`), an existing scheduler (`--scheduler ADDRESS`)
or SLURM/PBS jobs through dask-jobqueue (`--jobqueue slurm|pbs`). Dask is imported only when a Dask executor is
made, and its cluster starts only when there is something to compute.

An executor only runs `Task`s and hands each finished output to the caller (`on_done`, on the client), which saves it
at once, atomically, as a unit file (`UnitFiles`): an interrupted client keeps every finished unit, and a worker that
dies in the middle of a unit loses nothing — Dask reruns the unit on another worker, and nothing is written until it
returns. One progress bar counts units (`run_tasks`); each unit's wall time goes in the stored provenance.

Units are deterministic: a unit seeds itself from its description and runs on the CPU threads its experiment sets
(`runtime.cpu_threads`; every experiment of the book runs on one intra-op thread), and Dask workers start with one
thread (`threads_per_worker=1`, and torch's threads set to 1 before each unit), so a unit gives the same bits on a
worker as in-process.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from . import runtime
from .runtime import Checkpoint
from .store import CorruptResultError, Result, load_result, save_result
from .validation import ConfigError, UserError


@dataclass
class Task:
    """One unit to run: `run(unit, *, device, progress, checkpoint)` (a module-level function: it is pickled by
    reference) on `unit`; `checkpoint` is where the unit may keep its partial state (None: it keeps none)."""

    run: Callable
    unit: Any
    label: str
    checkpoint: Path | None = None
    priority: int = 0  # higher starts first on Dask (the longest units of each experiment)


def execute(run: Callable, unit, device: str, checkpoint: str | None, progress: bool, threads: int | None = None):
    """Run one unit where the executor placed it; returns (arrays, summary, info) with the unit's wall time."""
    if threads is not None:
        torch.set_num_threads(threads)
    runtime.start_run()
    start, cpu = time.perf_counter(), time.process_time()
    out = run(unit, device=torch.device(device), progress=progress,
              checkpoint=Checkpoint(Path(checkpoint)) if checkpoint else None)
    arrays, summary = out if isinstance(out, tuple) else (out, {})
    info = {"wall_time_s": round(time.perf_counter() - start, 3),
            "cpu_time_s": round(time.process_time() - cpu, 3),  # below the wall time when it waited for a core
            "cpu_threads": runtime.threads_in_run(),
            "host": platform.node(), "pid": os.getpid()}
    return {k: np.asarray(v) for k, v in arrays.items()}, summary, info


class InProcess:
    """The units run here, in order (today's behaviour): with their own progress bars and mid-unit checkpoints."""

    def describe(self) -> dict:
        return {"executor": "in-process"}

    def map(self, tasks: list[Task], *, device, progress: bool, on_done: Callable) -> None:
        for i, task in enumerate(tasks):
            on_done(i, *execute(task.run, task.unit, str(device), task.checkpoint and str(task.checkpoint), progress))

    def close(self) -> None:
        pass


class DaskExecutor:
    """The units run on Dask workers, one unit per worker thread (each worker has one). Exactly one of `workers` (a
    LocalCluster of that many worker processes), `scheduler` (the address of a running scheduler), `jobqueue`
    ("slurm" or "pbs": `jobs` batch jobs from `jobqueue_cluster`) or `client` (a `distributed.Client`) says where.

    Mid-unit checkpoints are kept only on a local cluster (the workers see this machine's files); elsewhere a unit
    that is lost reruns from its start. A unit that fails raises here; a worker killed `allowed-failures` times in
    a row (Dask's default 3) raises `distributed.KilledWorker`."""

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None, jobqueue: str | None = None,
                 jobs: int = 1, client=None, jobqueue_options: dict | None = None):
        given = [x is not None for x in (workers, scheduler, jobqueue, client)]
        if sum(given) != 1:
            raise ConfigError("a Dask executor needs exactly one of workers, scheduler, jobqueue or client")
        if workers is not None and not (isinstance(workers, int) and workers >= 1):
            raise ConfigError(f"workers={workers!r} is not allowed: workers must be an integer >= 1")
        if jobqueue is not None and jobqueue not in JOBQUEUES:
            raise ConfigError(f"jobqueue={jobqueue!r} is not allowed: jobqueue must be one of "
                              + ", ".join(repr(k) for k in JOBQUEUES))
        if not (isinstance(jobs, int) and jobs >= 1):
            raise ConfigError(f"jobs={jobs!r} is not allowed: jobs must be an integer >= 1")
        self.workers, self.scheduler, self.jobqueue, self.jobs = workers, scheduler, jobqueue, jobs
        self.jobqueue_options = jobqueue_options or {}
        self.client, self.cluster, self._own = client, None, client is None
        self.local = workers is not None or (client is not None and _is_local(client))

    def describe(self) -> dict:
        if self.workers is not None:
            where = f"dask LocalCluster, {self.workers} worker process(es) × 1 thread"
        elif self.scheduler is not None:
            where = f"dask scheduler {self.scheduler}"
        elif self.jobqueue is not None:
            where = f"dask-jobqueue {self.jobqueue}, {self.jobs} job(s)"
        else:
            where = f"dask client {self.client.scheduler.address}"
        import dask
        import distributed
        return {"executor": where, "dask_version": dask.__version__, "distributed_version": distributed.__version__}

    def _connect(self):
        if self.client is not None:
            return self.client
        import dask
        import distributed

        try:
            if self.workers is not None:
                # a nanny also copies its settings into this process's environment (and its workers inherit that):
                # an earlier default cluster here leaves Dask's value behind
                if os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536":
                    del os.environ["MALLOC_TRIM_THRESHOLD_"]
                with dask.config.set(WORKER_CONFIG):
                    self.cluster = distributed.LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                                            processes=True, dashboard_address=":0", silence_logs=40)
                self.client = distributed.Client(self.cluster)
            elif self.scheduler is not None:
                self.client = distributed.Client(self.scheduler, timeout="15s")
            else:
                self.cluster = jobqueue_cluster(self.jobqueue, **self.jobqueue_options)
                self.cluster.scale(jobs=self.jobs)
                self.client = distributed.Client(self.cluster)
        except OSError as exc:
            raise UserError(f"cannot reach a Dask scheduler ({exc})",
                            "check the address given to --scheduler (e.g. tcp://host:8786)") from None
        return self.client

    def map(self, tasks: list[Task], *, device, progress: bool, on_done: Callable) -> None:
        if not tasks:
            return
        from distributed import as_completed

        client = self._connect()
        run_id = uuid.uuid4().hex[:8]
        futures, index = [], {}
        # submitted longest first (a task submitted earlier reaches a free worker before a later one's priority counts)
        for i in sorted(range(len(tasks)), key=lambda i: -tasks[i].priority):
            task = tasks[i]
            checkpoint = str(task.checkpoint) if (task.checkpoint is not None and self.local) else None
            future = client.submit(execute, task.run, task.unit, str(device), checkpoint, False, 1,
                                   key=f"unit-{run_id}-{i}", pure=False, priority=task.priority)
            futures.append(future)
            index[future.key] = i
        try:
            for future in as_completed(futures):
                on_done(index[future.key], *future.result())
        finally:
            client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        """Close the client and the cluster this executor started (a client given to it is left open)."""
        if not self._own:
            return
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None


def _is_local(client) -> bool:
    """Whether the workers of `client` run on this machine (so that they see its files)."""
    try:
        hosts = {w.get("host") for w in client.scheduler_info(n_workers=-1)["workers"].values()}
    except Exception:  # an older scheduler_info signature
        hosts = {w.get("host") for w in client.scheduler_info()["workers"].values()}
    return bool(hosts) and hosts <= {"127.0.0.1", "localhost", platform.node()}


# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off glibc's adaptive mmap
# threshold: every multi-megabyte tensor of a training step is then a fresh mmap (page faults), and a sweep's unit ran
# 1.2-1.35x slower on a worker than in-process (measured; docs/DESIGN.md). Our workers keep glibc's defaults.
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}

JOBQUEUES = ("slurm", "pbs")

# Defaults for batch jobs, used where the Dask configuration (`~/.config/dask/jobqueue.yaml`, section
# jobqueue.slurm or jobqueue.pbs) does not say: one single-threaded worker per job, so that units give the same bits
# as in-process, and BLAS/OpenMP pinned to one thread.
JOB_DEFAULTS = {"cores": 1, "processes": 1, "memory": "4GB", "walltime": "04:00:00"}
JOB_PROLOGUE = ["export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1",
                # the job's environment wins over the nanny's MALLOC_TRIM_THRESHOLD_=65536 (see WORKER_CONFIG): large
                # buffers stay on the heap, as with glibc's adaptive defaults
                "export MALLOC_TRIM_THRESHOLD_=134217728 MALLOC_MMAP_THRESHOLD_=33554432"]


def jobqueue_cluster(kind: str, **options):
    """A dask-jobqueue cluster (`SLURMCluster`, `PBSCluster`) for `kind`: keyword options first, then the Dask
    configuration's jobqueue.<kind> section (queue, account, memory, walltime, …), then `JOB_DEFAULTS`. It starts a
    scheduler here and submits nothing until it is scaled; `cluster.job_script()` shows the job it would submit."""
    if kind not in JOBQUEUES:
        raise ConfigError(f"jobqueue={kind!r} is not allowed: jobqueue must be one of "
                          + ", ".join(repr(k) for k in JOBQUEUES))
    import dask
    import dask_jobqueue

    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]
    kwargs = {k: v for k, v in JOB_DEFAULTS.items()
              if dask.config.get(f"jobqueue.{kind}.{k.replace('_', '-')}", None) is None}
    prologue = list(dask.config.get(f"jobqueue.{kind}.job-script-prologue", None) or [])
    kwargs["job_script_prologue"] = prologue + [line for line in JOB_PROLOGUE if line not in prologue]
    kwargs["python"] = dask.config.get(f"jobqueue.{kind}.python", None) or sys.executable
    kwargs.update(options)
    return cls(**kwargs)


def run_tasks(executor, tasks: list[Task], *, device, progress: bool, on_done: Callable, done_before: int = 0,
              total: int | None = None) -> None:
    """Run `tasks` on `executor` under one progress bar over units (counting `done_before` units already finished)."""
    total = done_before + len(tasks) if total is None else total
    bar = tqdm(total=total, initial=done_before, desc="units", unit="unit", disable=not progress or total < 2)

    def done(i, arrays, summary, info):
        on_done(i, arrays, summary, info)
        bar.set_postfix_str(f"{tasks[i].label}: {info['wall_time_s']:.1f} s", refresh=False)
        bar.update(1)

    try:
        executor.map(tasks, device=device, progress=progress, on_done=done)
    finally:
        bar.close()


class UnitFiles:
    """The finished units of one run (experiment, key), each saved atomically as it finishes:
    `<folder>/unit-0003-<key>.npz` (a result file: checksum, config, the unit's arrays, its wall time), with
    `plan.json` saying how many units the run has, for `python -m landscape list`. A unit's own partial state (its
    checkpoint) lives beside it as `unit-0003.pt`. Nothing here is ever read under a final result's name."""

    def __init__(self, folder: Path, experiment: str, version: int, key: str, config: dict):
        self.folder, self.experiment, self.version, self.key, self.config = Path(folder), experiment, version, key, config

    def path(self, i: int) -> Path:
        return self.folder / f"unit-{i:04d}-{self.key}.npz"

    def checkpoint(self, i: int) -> Path:
        return self.folder / f"unit-{i:04d}.pt"

    def write_plan(self, units: int, labels: list[str], preset: str | None, overrides: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        plan = {"experiment": self.experiment, "version": self.version, "key": self.key, "preset": preset,
                "overrides": overrides, "units": units, "labels": labels}
        _write_atomic(self.folder / "plan.json", json.dumps(plan, indent=1).encode())

    def load(self, units: int) -> dict[int, tuple]:
        """{unit index: (arrays, summary, info)} of the units already finished; a damaged unit file is removed (that
        unit runs again)."""
        done = {}
        for i in range(units):
            path = self.path(i)
            if not path.exists():
                continue
            try:
                r = load_result(path)
            except CorruptResultError:
                path.unlink(missing_ok=True)
                continue
            done[i] = (r.arrays, r.summary, r.provenance["unit"])
        return done

    def save(self, i: int, arrays: dict, summary: dict, info: dict) -> None:
        provenance = {"experiment_version": self.version, "unit": {"index": i, **info}}
        save_result(self.path(i), Result(self.experiment, self.key, self.config, arrays, summary, provenance))
        for stale in self.folder.glob(f"unit-{i:04d}*.pt"):
            stale.unlink(missing_ok=True)

    def clear(self) -> None:
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                path.unlink(missing_ok=True)
            self.folder.rmdir()


def read_plan(folder: Path) -> dict | None:
    """A run's plan.json with the number of units finished (`done`), or None if unreadable."""
    try:
        plan = json.loads((Path(folder) / "plan.json").read_text())
    except (OSError, ValueError):
        return None
    plan["done"] = len(list(Path(folder).glob("unit-*.npz")))
    return plan


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
