"""Fig. 4 speed: time per 1,000 full-batch GD steps on the spiral, with and without the Hessian/NTK probes, measured
in one run, and the projected time of the full 70,000-step run.

Usage: python benchmarks/spiral_speed.py [--steps 5000] [--device cpu|cuda]
"""

import argparse
import time
from dataclasses import replace

import torch

from landscape.topics.spiral.experiment import FIG4, train_spiral
from landscape.runtime import cpu_threads, resolve_device

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=5000)
parser.add_argument("--device", default="auto")
args = parser.parse_args()
device = resolve_device(args.device)

settings = {
    "no probes": replace(FIG4, hessian_every=0, ntk_every=0),
    "NTK every step": replace(FIG4, hessian_every=0),
    "Hessian every 25 steps": replace(FIG4, ntk_every=0),
    "both probes (Fig. 4)": FIG4,
}
timings = {}
with cpu_threads(1, device):
    train_spiral(FIG4, device=device, until=200)  # warm-up
    for name, config in settings.items():
        start = time.perf_counter()
        train_spiral(config, device=device, until=args.steps)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings[name] = (time.perf_counter() - start) / args.steps * 1000

base = timings["no probes"]
print(f"device: {device}, torch {torch.__version__}, {args.steps} steps per setting")
for name, per_1000 in timings.items():
    print(f"{name:24s} {per_1000:6.2f} s per 1,000 steps  ({per_1000 / base:4.2f}× no probes)  "
          f"→ 70k steps ≈ {per_1000 * 70:5.0f} s")
