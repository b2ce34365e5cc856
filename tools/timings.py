"""The README's "How long it takes" table from one source each: the build and test times from docs/timings.json (a
measurement with its date and machine, written by `--record`), the regeneration time from the stored results'
provenance (`runner.regeneration_cost`). tests/test_timings.py fails when the README disagrees with them.

    python tools/timings.py --record book 241.3     # after timing `make book` on a fresh clone
    python tools/timings.py --write                 # rewrite the README's table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = ROOT / "docs" / "timings.json"
README = ROOT / "README.md"
START, END = "<!-- timings: start (tools/timings.py --write) -->", "<!-- timings: end -->"
STEPS = {"install": "install (`make install`, the first part of either command: a fresh `.venv` from the pinned "
                    "`requirements.txt`)",
         "book": "`make book` on a fresh clone after the install (executes every notebook from the stored results, "
                 "then renders)",
         "test": "`make test` on a fresh clone after the install (unit tests and smoke runs, drift check, nbval "
                 "twice, the browser check with its own build)"}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine()) \
        if Path("/proc/cpuinfo").exists() else platform.machine()
    return f"{os.cpu_count()} cores, {cpu}"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(round(seconds % 60)):02d} s"


def table() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from landscape.runner import regeneration_cost
    measured = json.loads(TIMINGS.read_text())
    rows = ["| step | time | measured |", "|---|---|---|"]
    for step, what in STEPS.items():
        m = measured[step]
        rows.append(f"| {what} | {minutes(m['seconds'])} | {m['date']}, {m['machine']} |")
    cost = regeneration_cost()
    rows.append(f"| regenerate all {cost.results} stored results from scratch (`make results` after deleting "
                f"`results/`) | {cost.compute_s / 60:.0f} min of single-core compute, so about "
                f"{cost.compute_s / 120:.0f} min on 2 cores (the largest unit: {cost.largest_unit_s / 60:.0f} min) "
                f"| the units' CPU times in the results' provenance |")
    return "\n".join(rows)


def block() -> str:
    return f"{START}\n{table()}\n{END}"


def readme_block(text: str) -> str:
    match = re.search(re.escape(START) + r".*?" + re.escape(END), text, flags=re.S)
    if not match:
        raise SystemExit(f"README.md has no {START} … {END} block")
    return match.group(0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", nargs=2, metavar=("STEP", "SECONDS"), help=f"STEP: one of {', '.join(STEPS)}")
    parser.add_argument("--write", action="store_true", help="rewrite the README's table")
    args = parser.parse_args(argv)
    if args.record:
        step, seconds = args.record
        if step not in STEPS:
            parser.error(f"STEP={step!r} is not allowed: STEP must be one of {', '.join(STEPS)}")
        measured = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
        measured[step] = {"seconds": float(seconds), "date": date.today().isoformat(), "machine": machine()}
        TIMINGS.write_text(json.dumps(measured, indent=1, sort_keys=True) + "\n")
    if args.write:
        text = README.read_text()
        README.write_text(text.replace(readme_block(text), block()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
