"""One fixed mid-sized sweep regenerated in-process and on a local Dask cluster of 2 worker processes, in one run:
prints the wall times, their ratio, the cluster's start-up and the units' overhead, and checks that both runs store
identical arrays. Each way starts from an empty results folder (nothing is loaded).

The sweep: `capacity` (spiral, its settings × runs per width, float32) at widths 40, 48, 56, 64 for 2,400 steps —
four width units of similar cost, so that 2 workers get equal shares.

Usage: python benchmarks/dask_speed.py [--workers 2] [--steps 2400, a multiple of the 400-step record interval] [--widths 40 48 56 64] [--repeats 3]
"""

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ["LANDSCAPE_COMPUTE"] = "auto"

from landscape.executor import DaskExecutor, InProcess  # noqa: E402
from landscape.runner import load_or_run  # noqa: E402
from landscape.store import Store  # noqa: E402

def timed(executor, overrides):
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        result = load_or_run("capacity", "full", overrides=overrides, store=Store(Path(root)), progress=False,
                             executor=executor)
        return time.perf_counter() - start, result


def worker_busy(result) -> float:
    """The largest total of unit wall times on one worker: the wall time of a perfectly overhead-free run."""
    per_worker = defaultdict(float)
    for where, t in zip(result.provenance["units"]["ran_on"], result.provenance["units"]["wall_time_s"]):
        per_worker[where] += t
    return max(per_worker.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--widths", type=int, nargs="+", default=[40, 48, 56, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # capacity's final plain phase is 4,000 of its 24,000 steps: keep that share, so that a short benchmark run is
    # still a valid config (final_plain_steps < steps)
    overrides = {"widths": tuple(args.widths), "steps": args.steps, "final_plain_steps": args.steps // 6 // 400 * 400}


    print(f"load before: {os.getloadavg()[0]:.2f} (1 min), {len(os.sched_getaffinity(0))} CPU cores; sweep: capacity "
          f"widths {args.widths}, {args.steps} steps")
    rows = []
    for repeat in range(args.repeats):
        t_in, r_in = timed(InProcess(), overrides)
        dask = DaskExecutor(workers=args.workers)
        start = time.perf_counter()
        dask._connect()  # the cluster's start-up, timed apart from the run (a cluster is started once for many runs)
        startup = time.perf_counter() - start
        t_dask, r_dask = timed(dask, overrides)
        dask.close()
        same = r_in.key == r_dask.key and all(np.array_equal(v, r_dask.arrays[k], equal_nan=v.dtype.kind == "f")
                                              for k, v in r_in.arrays.items())
        busy = worker_busy(r_dask)
        units_in = r_in.provenance["units"]["wall_time_s"]
        units_dask = r_dask.provenance["units"]["wall_time_s"]
        rows.append((t_in, t_dask, startup, busy))
        share_in, share_dask = (sum(r.provenance["units"]["cpu_time_s"]) / sum(r.provenance["units"]["wall_time_s"])
                                for r in (r_in, r_dask))
        print(f"[{repeat + 1}] in-process {t_in:.1f} s (units {', '.join(f'{t:.1f}' for t in units_in)} s) | "
              f"{args.workers} workers {t_dask:.1f} s + start-up {startup:.1f} s (units "
              f"{', '.join(f'{t:.1f}' for t in units_dask)} s; busiest worker {busy:.1f} s) | identical arrays: {same} | "
              f"{len(r_in['member_seed'])} networks per width")
        print(f"    ratio {t_in / t_dask:.2f}× (run), {t_in / (t_dask + startup):.2f}× (with start-up); units' overhead "
              f"{t_dask - busy:.2f} s per run ({(t_dask - busy) / len(units_dask):.2f} s per unit); a unit on a worker "
              f"takes {sum(units_dask) / sum(units_in):.2f}× its in-process time; CPU time / wall time of the units "
              f"{share_in:.2f} in-process, {share_dask:.2f} on the workers (below 1: waiting for a core)")
        assert same, "the two ways stored different arrays"
    best = max(rows, key=lambda r: r[0] / r[1])
    print(f"best ratio {best[0] / best[1]:.2f}× ({best[0] / (best[1] + best[2]):.2f}× with start-up); "
          f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":  # Dask's worker processes import this file: they must not run it
    main()
