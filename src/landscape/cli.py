"""Command line: `python -m landscape list | run NAME… | show NAME | claims [--json] | verify [NAME]`.

A problem the user can fix (bad input, a missing or damaged result, no GPU, an unwritable folder, Ctrl-C) prints at
most two lines — what is wrong and how to fix it — and exits non-zero; `--debug` shows the traceback instead."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from .executor import DaskExecutor, InProcess
from .registry import all_experiments, get_experiment
from .runner import read, result_path, run_many, set_options, units_of
from .runtime import compute_policy, resolve_device
from .store import CorruptResultError, Store, config_key, load_result
from .unit_files import read_plan
from .validation import ConfigError, UserError


def cmd_list(args) -> int:
    store = Store()
    if args.names:
        print("\n".join(exp.name for exp in all_experiments()))
        return 0
    store.check_readable()
    for exp in all_experiments():
        status, keys = [], set()
        for preset, config in exp.presets.items():
            key = config_key(exp.name, exp.version, config)
            keys.add(key)
            if store.path(exp.name, key, preset).exists():
                status.append(f"{preset}: stored")
                continue
            plan = read_plan(store.units_dir(exp.name, key))
            if plan is None:
                status.append(f"{preset}: missing")
            else:
                status.append(f"{preset}: {'partly' if plan['done'] else 'missing (started)'}, "
                              f"{plan['done']}/{plan['units']} units")
        print(f"{exp.name:28s} v{exp.version}  [{', '.join(status)}]  {exp.title}")
        for path in sorted((store.root / exp.name).glob("*+set-*.npz")):  # results with --set overrides
            print(f"{'':28s}   {path.stem}: stored ({_overrides_of(path)})")
        for folder in sorted((store.root / ".partial").glob(f"{exp.name}-*.units")):
            plan = read_plan(folder)
            if plan is None or plan.get("experiment") != exp.name or plan["key"] in keys:
                continue
            sets = " ".join(set_options(plan.get("overrides") or {}))
            print(f"{'':28s}   {plan['preset'] or 'custom'}{' ' + sets if sets else ''} (key {plan['key']}): "
                  f"{'partly' if plan['done'] else 'missing (started)'}, {plan['done']}/{plan['units']} units")
    return 0


def _overrides_of(path) -> str:
    try:
        overrides = load_result(path).provenance.get("overrides", {})
        return " ".join(set_options(overrides if isinstance(overrides, dict) else {}))
    except CorruptResultError:
        return "damaged"


def _executor(args):
    """The executor asked for on the command line (in-process unless --workers, --scheduler or --jobqueue)."""
    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError(f"--workers={args.workers} is not allowed: --workers must be an integer >= 1")
        return DaskExecutor(workers=args.workers)
    if args.scheduler is not None:
        return DaskExecutor(scheduler=args.scheduler)
    if args.jobqueue is not None:
        return DaskExecutor(jobqueue=args.jobqueue, jobs=args.jobs)
    return InProcess()


def cmd_run(args) -> int:
    if args.all:
        if args.name:
            raise ConfigError("run takes experiment names or --all, not both", hint="drop the names or --all")
        names = [e.name for e in all_experiments() if args.preset in e.presets]
    elif args.name:
        names = args.name
    else:
        raise ConfigError("run needs an experiment name (or --all)", hint="python -m landscape list --names")
    if args.set and len(names) > 1:
        raise ConfigError("--set applies to one experiment; run others separately",
                          hint=f"python -m landscape run {names[0]} --set …")
    exps = [get_experiment(name) for name in names]
    for exp in exps:
        exp.preset(args.preset)  # validated before anything else
        if args.set:
            result_path(exp.name, args.preset, overrides=args.set)  # the overrides, validated
    compute_policy()
    device = resolve_device(args.device)  # a missing GPU is reported even when a result is stored
    executor = _executor(args)
    try:
        results = run_many([(exp.name, args.preset, None, args.set) for exp in exps], device=device,
                           force=args.force, progress=not args.quiet, executor=executor)
    finally:
        executor.close()
    for exp, result in zip(exps, results):
        p = result.provenance
        sets = "".join(f" {s}" for s in set_options(p.get("overrides", {})))
        print(f"{exp.name} ({args.preset}{sets}) stored: wall time {p['wall_time_s']} s on {p['device']}; "
              f"summary: {json.dumps(result.summary)}")
        if args.device != "auto" and torch.device(p["device"]).type != device.type:
            print(f"note: this stored result was computed on {p['device']} ({p['device_name']}), not {device.type}; "
                  f"add --force to recompute it on {device.type}", file=sys.stderr)
    return 0


def cmd_show(args) -> int:
    """A stored result's config, summary and provenance (a file path, or a name with --preset and --set)."""
    from pathlib import Path

    if args.name.endswith(".npz"):
        path = Path(args.name)
        if not path.exists():
            raise ConfigError(f"no such result file: {path}", hint="python -m landscape list")
        try:
            result = read(path)
        except CorruptResultError as exc:
            if path.parent.name not in {e.name for e in all_experiments()}:  # not in a results folder: no rerun
                exc.hint = "this is not a result file of the book's store (results/<experiment>/<preset>-<key>" \
                           ".npz); python -m landscape list shows the stored results"
            raise
        except (UserError, TypeError) as exc:  # a valid file of an experiment (or config) this version lacks
            raise CorruptResultError(f"{path}: not a result of this book's experiments ({exc})",
                                     "python -m landscape list shows the experiments and their results") from None
    else:
        get_experiment(args.name)
        path = result_path(args.name, args.preset, overrides=args.set)
        if not path.exists():
            raise ConfigError(f"no stored result for {args.name} (preset {args.preset}"
                              f"{', with --set' if args.set else ''}) in {path.parent}",
                              hint=f"python -m landscape run {args.name} --preset {args.preset}"
                                   + "".join(f" --set {s}" for s in args.set or []))
        result = read(path)
    exp = get_experiment(result.experiment)
    units = len(units_of(exp, result.typed_config).units)
    print(f"{result.experiment} v{exp.version}: {exp.title}")
    print(f"file: {path}")
    print(f"units: {units}")
    for title, value in (("config", result.config), ("summary", result.summary), ("provenance", result.provenance)):
        print(f"{title}:")
        _print_tree(value, "  ")
    print("arrays: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(result.arrays.items())))
    return 0


def _print_tree(value: dict, indent: str) -> None:
    """A dict as `key: value` lines, nested dicts indented, everything else as compact JSON."""
    for k in sorted(value):
        if isinstance(value[k], dict) and value[k]:
            print(f"{indent}{k}:")
            _print_tree(value[k], indent + "  ")
        else:
            print(f"{indent}{k}: {json.dumps(value[k], ensure_ascii=False)}")


def cmd_claims(args) -> int:
    from .scorecard import evaluate_claims

    Store().check_readable()  # a missing results folder is not "every claim not testable"
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
        get_experiment(name)
    store.check_readable()
    for name in names:
        exp = get_experiment(name)
        for path in store.stored(name):
            checked += 1
            try:
                result = load_result(path)
                if result.experiment != name:
                    raise CorruptResultError(f"{path}: holds a result of {result.experiment}, not of {name}")
                result = read(path)
            except (CorruptResultError, ConfigError, TypeError) as exc:
                failures += 1
                print(f"CORRUPT {exc}")
                continue
            for c in exp.drift_check(result.typed_config, result, device=resolve_device("cpu")):
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
    run = sub.add_parser("run", help="compute (or load) and store experiments' results")
    run.add_argument("name", nargs="*", help="one or more experiments (their units run together)")
    run.add_argument("--all", action="store_true", help="every experiment that has the preset")
    run.add_argument("--preset", default="full", help="smoke (seconds, CI) or full (the book's); default full")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="change one config field (repeatable; e.g. --set seeds=20 --set widths=16,32,64, "
                          "data.points_per_class=100); the result is stored under its own key")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    run.add_argument("--force", action="store_true", help="recompute even if a stored result exists")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="run the units on a local Dask cluster of N worker processes (one thread each)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run the units on a running Dask scheduler "
                                                               "(e.g. tcp://host:8786)")
    where.add_argument("--jobqueue", choices=["slurm", "pbs"],
                       help="run the units on SLURM/PBS batch jobs through dask-jobqueue (configured in "
                            "~/.config/dask/jobqueue.yaml; see docs/DESIGN.md)")
    run.add_argument("--jobs", type=int, default=1, metavar="N", help="batch jobs to start with --jobqueue")
    show = sub.add_parser("show", help="a stored result's config, summary and provenance")
    show.add_argument("name", help="an experiment name (with --preset, --set) or a result file (.npz)")
    show.add_argument("--preset", default="full")
    show.add_argument("--set", action="append", metavar="KEY=VALUE", help="as for run")
    claims = sub.add_parser("claims", help="the reproduction scorecard, computed from stored results")
    claims.add_argument("--json", action="store_true")
    verify = sub.add_parser("verify", help="drift check: recompute the first steps of stored results")
    verify.add_argument("name", nargs="?")
    for command in (listing, run, show, claims, verify):
        command.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    args = parser.parse_args(argv)
    try:
        return {"list": cmd_list, "run": cmd_run, "show": cmd_show, "claims": cmd_claims,
                "verify": cmd_verify}[args.command](args)
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
        print("interrupted: finished units and work up to the last checkpoint (saved every 20 s) are kept; rerun the "
              "same command to resume", file=sys.stderr)
        return 130
