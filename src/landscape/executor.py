"""Where an experiment's units of work run: here, one after the other (`InProcess`, the default), or on Dask
(`DaskExecutor`): a local cluster of worker processes (`--workers N`), an existing scheduler (`--scheduler ADDRESS`)
or SLURM/PBS jobs through dask-jobqueue (`--jobqueue slurm|pbs`). Dask is imported only when a Dask executor is
made, and its cluster starts only when there is something to compute.

`run_units` runs an experiment's units here without a store (its `run`, and the drift check's short reruns).

An executor only runs `Task`s and hands each finished output to the caller (`on_done`, on the client), which saves it
at once, atomically, as a unit file (`landscape.unit_files.UnitFiles`): an interrupted client keeps every finished unit, and a worker that
dies in the middle of a unit loses nothing — Dask reruns the unit on another worker, and nothing is written until it
returns. One progress bar counts units (`run_tasks`); each unit's wall time goes in the stored provenance.

Units are deterministic: a unit seeds itself from its description and runs on the CPU threads its experiment sets
(`runtime.cpu_threads`; every experiment of the book runs on one intra-op thread), and Dask workers start with one
thread (`threads_per_worker=1`, and torch's threads set to 1 before each unit), so a unit gives the same bits on a
worker as in-process.

Every path ends within a bound: a scheduler address is checked, then must answer Dask's handshake within
`HANDSHAKE_TIMEOUT_S`; batch jobs need their submit command (`sbatch`, `qsub`) on the PATH before anything starts, and
their submission must succeed within `SUBMIT_TIMEOUT_S`; a local cluster starts at most one worker per unit to run.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
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
from .validation import ConfigError, UserError

HANDSHAKE_TIMEOUT_S = 15.0  # a scheduler must accept the connection and answer Dask's handshake within this
SUBMIT_TIMEOUT_S = 120.0  # the batch jobs must be submitted (sbatch/qsub return) within this


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

    local = True  # the units run on this machine (its memory bounds them; they see its files)

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
                 jobs: int = 1, client=None, jobqueue_options: dict | None = None,
                 timeout: float | None = None):
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
        if scheduler is not None:
            scheduler = scheduler_address(scheduler)
        self.workers, self.scheduler, self.jobqueue, self.jobs = workers, scheduler, jobqueue, jobs
        self.jobqueue_options = jobqueue_options or {}
        self.timeout = HANDSHAKE_TIMEOUT_S if timeout is None else timeout
        self.client, self.cluster, self._own = client, None, client is None
        self.local = workers is not None or (client is not None and _is_local(client))
        self.started = None  # the workers or jobs actually started (at most one per unit)

    def describe(self) -> dict:
        if self.workers is not None:
            where = f"dask LocalCluster, {self.started or self.workers} worker process(es) × 1 thread"
        elif self.scheduler is not None:
            where = f"dask scheduler {self.scheduler}"
        elif self.jobqueue is not None:
            where = f"dask-jobqueue {self.jobqueue}, {self.started or self.jobs} job(s)"
        else:
            where = f"dask client {self.client.scheduler.address}"
        import dask
        import distributed
        return {"executor": where, "dask_version": dask.__version__, "distributed_version": distributed.__version__}

    def _connect(self, units: int = 1):
        """The client, starting what this executor starts: at most one worker (or batch job) per unit to run."""
        if self.client is not None:
            return self.client
        import dask
        import distributed

        try:
            if self.workers is not None:
                self.started = _capped("workers", self.workers, units)
                cores = os.cpu_count() or 1
                if self.started > cores:
                    print(f"warning: {self.started} worker processes on {cores} CPU cores: they share the cores "
                          f"(each unit runs slower; the result is the same)", file=sys.stderr)
                # a nanny also copies its settings into this process's environment (and its workers inherit that):
                # an earlier default cluster here leaves Dask's value behind
                if os.environ.get("MALLOC_TRIM_THRESHOLD_") == "65536":
                    del os.environ["MALLOC_TRIM_THRESHOLD_"]
                with dask.config.set(WORKER_CONFIG):
                    self.cluster = distributed.LocalCluster(n_workers=self.started, threads_per_worker=1,
                                                            processes=True, dashboard_address=":0", silence_logs=40)
                self.client = distributed.Client(self.cluster)
            elif self.scheduler is not None:
                probe_scheduler(self.scheduler, self.timeout)
                self.client = distributed.Client(self.scheduler, timeout=f"{self.timeout}s")
            else:
                self.started = _capped("jobs", self.jobs, units)
                self.cluster = start_jobs(self.jobqueue, self.started, **self.jobqueue_options)
                self.client = distributed.Client(self.cluster)
        except OSError as exc:
            raise UserError(f"cannot reach a Dask scheduler ({exc})",
                            "check the address given to --scheduler (e.g. tcp://host:8786)") from None
        return self.client

    def map(self, tasks: list[Task], *, device, progress: bool, on_done: Callable) -> None:
        if not tasks:
            return
        from distributed import as_completed

        client = self._connect(len(tasks))
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


def _capped(what: str, asked: int, units: int) -> int:
    """`asked` workers or jobs, but no more than there are units to run (the others would only wait)."""
    n = min(asked, max(units, 1))
    if n < asked:
        print(f"note: {n} {what} started, not {asked}: there {'is' if units == 1 else 'are'} {units} unit(s) to run",
              file=sys.stderr)
    return n


SCHEMES = ("tcp", "tls", "ws", "wss")


def scheduler_address(address: str) -> str:
    """A Dask scheduler's address as `scheme://host:port` (a bare host:port is tcp), or ConfigError saying what an
    address looks like: a web address (the dashboard's, http://…:8787) or text without a port is refused here."""
    text = str(address).strip()
    scheme, _, rest = text.rpartition("://") if "://" in text else ("tcp", "", text)
    host, _, port = rest.rpartition(":")
    example = "e.g. --scheduler tcp://host:8786 (the address `dask scheduler` prints as 'Scheduler at:')"
    if scheme in ("http", "https"):
        raise ConfigError(f"--scheduler={address!r} is not allowed: {scheme}:// is a web address (a dashboard?); "
                          f"a scheduler's address is tcp://HOST:PORT", hint=example)
    if scheme not in SCHEMES or not host or not port.isdigit() or not 0 < int(port) < 65536 \
            or any(c.isspace() or c in "/?#@" for c in host):
        raise ConfigError(f"--scheduler={address!r} is not allowed: --scheduler must be an address SCHEME://HOST:PORT "
                          f"(SCHEME one of {', '.join(SCHEMES)}; PORT 1 … 65535)", hint=example)
    return f"{scheme}://{host}:{port}"


def probe_scheduler(address: str, timeout: float | None = None) -> dict:
    """Connect to `address` and ask who it is (Dask's handshake, then its `identity` call), all within `timeout`
    seconds; UserError unless a Dask scheduler answers. A port that accepts connections and then says nothing (or
    speaks another protocol) is an error after `timeout`, not a hang."""
    import asyncio
    import concurrent.futures

    timeout = HANDSHAKE_TIMEOUT_S if timeout is None else timeout
    hint = "check the address given to --scheduler: a running `dask scheduler` prints it (e.g. tcp://host:8786)"
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme == "tcp":  # a refused or unroutable address answers at once, without distributed's retries
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as exc:
            raise UserError(f"cannot reach a Dask scheduler at {address} "
                            f"({exc.strerror or type(exc).__name__})", hint) from None

    async def identity():
        from distributed.comm import connect

        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    pool = concurrent.futures.ThreadPoolExecutor(1)  # its own event loop, also where one runs (a notebook)
    try:
        reply = pool.submit(lambda: asyncio.run(asyncio.wait_for(identity(), timeout))).result(timeout + 5)
    except (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError):
        raise UserError(f"{address} accepts connections but did not answer as a Dask scheduler within "
                        f"{timeout:g} s", hint) from None
    except Exception as exc:  # closed, garbage, another protocol
        closed = "closed" in str(exc).lower() or isinstance(exc, (ConnectionError, EOFError))
        reason = "it closed the connection" if closed else f"its reply is not Dask's protocol: {type(exc).__name__}"
        raise UserError(f"{address} did not answer as a Dask scheduler ({reason})", hint) from None
    finally:
        pool.shutdown(wait=False)
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        raise UserError(f"{address} answered as {kind or 'something else'}, not as a Dask scheduler", hint)
    return reply


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


def start_jobs(kind: str, jobs: int, **options):
    """A dask-jobqueue cluster scaled to `jobs` batch jobs, once they are submitted. Its submit command (`sbatch`,
    `qsub`) must be on the PATH (checked before anything starts), and submitting must succeed within
    `SUBMIT_TIMEOUT_S`: a failure is a UserError with the command's own message, not a hang."""
    import dask_jobqueue

    cls = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]
    command = cls.job_cls.submit_command.split()[0]
    if shutil.which(command) is None:
        raise UserError(f"--jobqueue {kind} submits batch jobs with {command}, which is not on the PATH here",
                        hint=f"run it where {command} works (a {kind.upper()} login node), or use --workers N or "
                             f"--scheduler ADDRESS")
    cluster = jobqueue_cluster(kind, **options)
    try:
        # what `cluster.scale(jobs=…)` does, but awaited here, so that a failed submission raises here
        while len(cluster.worker_spec) < jobs:
            cluster.worker_spec.update(cluster.new_worker_spec())
        cluster.sync(cluster._correct_state, callback_timeout=SUBMIT_TIMEOUT_S)
        if not all(getattr(job, "job_id", None) for job in cluster.workers.values()):
            raise RuntimeError("no job id came back")
    except Exception as exc:
        _close_unstarted(cluster)
        text = str(exc).split("stderr:")[-1] if "stderr:" in str(exc) else str(exc)
        reason = " ".join(text.split())[:200] or f"{type(exc).__name__}, after {SUBMIT_TIMEOUT_S:g} s"
        raise UserError(f"{command} could not submit the {kind} jobs ({reason})",
                        hint=f"check the job settings (queue, account, memory) in ~/.config/dask/jobqueue.yaml; "
                             f"`{command}` by hand shows what it needs") from None
    return cluster


def _close_unstarted(cluster) -> None:
    """Close a jobqueue cluster whose jobs failed to start (Dask's close asserts that every job started)."""
    from distributed.core import Status

    cluster.worker_spec.clear()
    for name in [n for n, job in cluster.workers.items() if not getattr(job, "job_id", None)]:
        del cluster.workers[name]
    for job in getattr(cluster, "_created", ()):
        if not getattr(job, "job_id", None):
            job.status = Status.failed
    try:
        cluster.close()
    except Exception:  # the scheduler here goes with this process
        pass


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


def run_units(plan, *, device, progress: bool = False, checkpoint: Checkpoint | None = None):
    """An experiment's `run` when it splits: its units (`registry.Units`) here, one after the other, on `InProcess`
    as `runner.run_many` runs them (without storing), then assembled. Unit i keeps its partial state in
    `checkpoint.sub(f"unit{i}")` until it is done, so an interrupted unit resumes where it stopped; finished units are
    kept only by the runner's unit files (`runner.load_or_run`)."""
    subs = [checkpoint.sub(f"unit{i}") if checkpoint is not None else None for i in range(len(plan.units))]
    tasks = [Task(plan.run, unit, plan.label(i), subs[i].path if subs[i] is not None else None)
             for i, unit in enumerate(plan.units)]
    outputs = [None] * len(tasks)

    def done(i, arrays, summary, info):
        outputs[i] = arrays
        if subs[i] is not None:
            subs[i].clear()

    run_tasks(InProcess(), tasks, device=device, progress=progress, on_done=done)
    return plan.assemble(outputs)
