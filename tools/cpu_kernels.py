"""Print the CPU kernels this environment selects: ATen's capability, MKL's instruction set, OpenBLAS's core type,
numpy's SIMD extensions. With --expect-other, fail unless `make test`'s second kernel setting took effect (ATen
DEFAULT, MKL SSE4.2, OpenBLAS Sandybridge, numpy without AVX-512).

Usage: python tools/cpu_kernels.py [--expect-other]
"""

import os
import re
import subprocess
import sys

import threadpoolctl
import torch
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__  # loads OpenBLAS too


def mkl_isa() -> str:
    """MKL's instruction set, from its verbose line for one matrix product (a child process: MKL reads MKL_VERBOSE
    when it starts)."""
    code = "import torch; a = torch.ones(64, 64, dtype=torch.float64); a @ a"
    run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MKL_VERBOSE": "1"},
                         capture_output=True, text=True, check=True)
    found = re.search(r"\(Intel\(R\) ([^)]+)\)", run.stdout + run.stderr)
    return found.group(1) if found else "unknown"


kernels = {
    "torch ATen": torch.backends.cpu.get_cpu_capability(),
    "MKL": mkl_isa(),
    "OpenBLAS": ", ".join(str(lib.get("architecture")) for lib in threadpoolctl.threadpool_info()
                          if lib["internal_api"] == "openblas") or "not loaded",
    "numpy SIMD": " ".join(f for f in __cpu_dispatch__ if __cpu_features__.get(f)) or "baseline only",
}
print("CPU kernels: " + "; ".join(f"{name} {value}" for name, value in kernels.items()))
if "--expect-other" in sys.argv[1:]:
    if kernels["MKL"] == "unknown":  # MKL names no instruction set on some CPUs (generic "Architecture processors")
        print("note: MKL reports no instruction set on this CPU; its setting cannot be checked here")
    expected = {"torch ATen": kernels["torch ATen"] == "DEFAULT", "MKL": kernels["MKL"] in ("SSE4.2", "unknown"),
                "OpenBLAS": kernels["OpenBLAS"].lower() == "sandybridge",
                "numpy SIMD": not any(f.startswith(("X86_V4", "AVX512")) for f in kernels["numpy SIMD"].split())}
    if not all(expected.values()):
        missed = ", ".join(name for name, ok in expected.items() if not ok)
        sys.exit(f"the second kernel setting did not take effect for {missed}")
