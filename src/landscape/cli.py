"""Command line: `python -m landscape list | run NAME | claims [--json] | verify [NAME]`."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .experiments import all_experiments, config_from_dict, get_experiment
from .store import Store, config_key, load_or_run, load_result, resolve_device
from .validation import ConfigError


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
    result = load_or_run(exp.name, args.preset, device=args.device, force=args.force, progress=not args.quiet)
    print(f"{exp.name} ({args.preset}) stored: wall time {result.provenance['wall_time_s']} s on "
          f"{result.provenance['device']}; summary: {json.dumps(result.summary)}")
    return 0


def cmd_claims(args) -> int:
    from .claims import evaluate_claims

    claims = evaluate_claims()
    if args.json:
        print(json.dumps([c.as_dict() for c in claims], indent=2))
        return 0
    for c in claims:
        print(f"{c.status:15s} {c.id:45s} {c.ours}")
    return 0


def cmd_verify(args) -> int:
    """Recompute the first steps of stored results and compare them with what is stored (the drift check)."""
    store = Store()
    failures = 0
    names = [args.name] if args.name else [e.name for e in all_experiments()]
    for name in names:
        exp = get_experiment(name)
        for path in store.stored(name):
            result = load_result(path)
            config = config_from_dict(exp.config_type, result.config)
            for c in exp.replay(config, result, device=resolve_device("cpu")):
                ok = c.stored.shape == c.recomputed.shape and np.allclose(c.stored, c.recomputed, rtol=c.rtol,
                                                                         atol=c.atol, equal_nan=True)
                failures += not ok
                print(f"{'ok  ' if ok else 'DRIFT'} {path.name:32s} {c.name}")
    return 1 if failures else 0


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
    args = parser.parse_args(argv)
    try:
        return {"list": cmd_list, "run": cmd_run, "claims": cmd_claims, "verify": cmd_verify}[args.command](args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
