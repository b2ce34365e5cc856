"""Command line: `python -m landscape list | run NAME | claims [--json] | verify [NAME]`.

A problem the user can fix (bad input, a missing or damaged result, no GPU, an unwritable folder, Ctrl-C) prints at
most two lines — what is wrong and how to fix it — and exits non-zero; `--debug` shows the traceback instead."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from .registry import all_experiments, get_experiment
from .runner import load_or_run, read
from .runtime import compute_policy, resolve_device
from .store import CorruptResultError, Store, config_key
from .validation import UserError


def cmd_list(args) -> int:
    store = Store()
    if args.names:
        print("\n".join(exp.name for exp in all_experiments()))
        return 0
    for exp in all_experiments():
        status = []
        for preset, config in exp.presets.items():
            path = store.path(exp.name, config_key(exp.name, exp.version, config), preset)
            status.append(f"{preset}: {'stored' if path.exists() else 'missing'}")
        print(f"{exp.name:28s} v{exp.version}  [{', '.join(status)}]  {exp.title}")
    return 0


def cmd_run(args) -> int:
    exp = get_experiment(args.name)
    exp.preset(args.preset)  # validated before anything else
    compute_policy()
    device = resolve_device(args.device)  # a missing GPU is reported even when a result is stored
    result = load_or_run(exp.name, args.preset, device=device, force=args.force, progress=not args.quiet)
    p = result.provenance
    print(f"{exp.name} ({args.preset}) stored: wall time {p['wall_time_s']} s on {p['device']}; "
          f"summary: {json.dumps(result.summary)}")
    if args.device != "auto" and torch.device(p["device"]).type != device.type:
        print(f"note: this stored result was computed on {p['device']} ({p['device_name']}), not {device.type}; "
              f"add --force to recompute it on {device.type}", file=sys.stderr)
    return 0



def cmd_claims(args) -> int:
    from .scorecard import evaluate_claims

    claims = evaluate_claims()
    problems = [c for c in claims if c.problem]
    if args.json:
        print(json.dumps([c.as_dict() for c in claims], indent=2))
    else:
        for c in claims:
            print(f"{c.status:15s} {c.id:45s} {c.problem or c.ours}")
    if problems:
        print(f"error: {len(problems)} claim(s) could not be evaluated: a stored result they read is damaged "
              f"(see above)", file=sys.stderr)
        return 1
    return 0


def cmd_verify(args) -> int:
    """Recompute the first steps of stored results and compare them with what is stored (the drift check)."""
    store = Store()
    failures = checked = 0
    names = [args.name] if args.name else [e.name for e in all_experiments()]
    for name in names:
        exp = get_experiment(name)
        for path in store.stored(name):
            checked += 1
            try:
                result = read(path)
            except CorruptResultError as exc:
                failures += 1
                print(f"CORRUPT {exc}")
                continue
            for c in exp.replay(result.typed_config, result, device=resolve_device("cpu")):
                ok = c.stored.shape == c.recomputed.shape and np.allclose(c.stored, c.recomputed, rtol=c.rtol,
                                                                         atol=c.atol, equal_nan=True)
                failures += not ok
                print(f"{'ok     ' if ok else 'DRIFT  '} {path.parent.name}/{path.name:28s} {c.name:24s} "
                      f"max rel diff {max_relative_difference(c.stored, c.recomputed)} (rtol {c.rtol:g})")
    if not checked:
        where = f"for {args.name} " if args.name else ""
        print(f"error: nothing to verify: no stored results {where}in {store.root}", file=sys.stderr)
        print("fix: python -m landscape run NAME --preset full", file=sys.stderr)
        return 1
    print(f"{checked} stored result(s), {failures} failure(s)")
    return 1 if failures else 0


def max_relative_difference(stored: np.ndarray, recomputed: np.ndarray) -> str:
    """max |a − b| / max(|a|, |b|) over the finite entries (matching NaNs, i.e. diverged runs, count as equal)."""
    if stored.shape != recomputed.shape:
        return f"shape {stored.shape} vs {recomputed.shape}"
    a, b = np.asarray(stored, dtype=np.float64), np.asarray(recomputed, dtype=np.float64)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return "NaN pattern differs"
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.any():
        return "0"
    scale = np.maximum(np.abs(a[finite]), np.abs(b[finite]))
    diff = np.abs(a[finite] - b[finite])
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1), 0.0)
    return f"{rel.max():.1e}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landscape", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="experiments and whether their results are stored")
    listing.add_argument("--names", action="store_true", help="only the names, one a line")
    run = sub.add_parser("run", help="compute (or load) and store an experiment's result")
    run.add_argument("name")
    run.add_argument("--preset", default="full", help="smoke (seconds, CI) or full (the book's); default full")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    run.add_argument("--force", action="store_true", help="recompute even if a stored result exists")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    claims = sub.add_parser("claims", help="the reproduction scorecard, computed from stored results")
    claims.add_argument("--json", action="store_true")
    verify = sub.add_parser("verify", help="drift check: recompute the first steps of stored results")
    verify.add_argument("name", nargs="?")
    for command in (listing, run, claims, verify):
        command.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    args = parser.parse_args(argv)
    try:
        return {"list": cmd_list, "run": cmd_run, "claims": cmd_claims, "verify": cmd_verify}[args.command](args)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"fix: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted: work up to the last checkpoint (saved every 20 s) is kept; rerun the same command to "
              "resume", file=sys.stderr)
        return 130
