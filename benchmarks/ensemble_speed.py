"""Batched ensemble vs one network at a time: 20 spiral networks (the Fig. 4 net, 2-100-3, dynamical loss A = 70),
full-batch GD, trained both ways in one run, alternating the two ways so that load from other processes hits both.
Prints the time per step of each way and their ratio (best of `--repeats` alternations), per dtype.

Usage: python benchmarks/ensemble_speed.py [--members 20] [--steps 1000] [--repeats 5] [--dtype float32 float64]
"""

import argparse
import time

import numpy as np
import torch

from landscape.data import spiral
from landscape.ensemble import EnsembleMLP, train_ensemble
from landscape.losses import GammaSchedule
from landscape.models import MLP
from landscape.runtime import cpu_threads, resolve_device
from landscape.training import train_full_batch

parser = argparse.ArgumentParser()
parser.add_argument("--members", type=int, default=20)
parser.add_argument("--steps", type=int, default=1000)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--dtype", nargs="+", default=["float32", "float64"])
parser.add_argument("--device", default="auto")
args = parser.parse_args()
device = resolve_device(args.device)
seeds = list(range(args.members))
schedule = GammaSchedule(3, 70.0, 5000)
gamma = schedule.gammas(np.arange(args.steps + 1))


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


def one_at_a_time(dtype, data):
    logs = [train_full_batch(MLP(2, 100, 3, seed=s, dtype=dtype, device=device), data, gamma, 1.0, args.steps)
            for s in seeds]
    return np.stack([log.objective for log in logs], axis=1)


def batched(dtype, data):
    model = EnsembleMLP.init(2, 100, 3, seeds, dtype=dtype, device=device)
    return train_ensemble(model, data, schedules=schedule, lr=1.0, steps=args.steps).objective


print(f"device: {device}, torch {torch.__version__}, {args.members} networks × {args.steps} full-batch steps, "
      f"both ways log the loss and accuracy at every step; best of {args.repeats}")
with cpu_threads(1, device):
    for dtype in args.dtype:
        data = spiral(dtype=getattr(torch, dtype)).to(device)
        batched(dtype, data), one_at_a_time(dtype, data)  # warm-up (first calls allocate)
        times = {"one at a time": [], "ensemble": []}
        for _ in range(args.repeats):
            for name, fn in (("one at a time", one_at_a_time), ("ensemble", batched)):
                sync()
                start = time.perf_counter()
                curves = fn(dtype, data)
                sync()
                times[name].append(time.perf_counter() - start)
        best = {k: min(v) / args.steps * 1000 for k, v in times.items()}
        ratio = best["one at a time"] / best["ensemble"]
        print(f"{dtype}: one at a time {best['one at a time']:6.2f} ms/step, ensemble {best['ensemble']:6.2f} "
              f"ms/step  →  ensemble {ratio:4.1f}× faster")
