"""The store as a hostile user meets it (issue #20): real symbolic links, folders and foreign files in the results
tree, unit files in the wrong slot, odd plans in `.partial/`, a failing disk. The store follows no link below the
results folder, deletes only what it wrote, takes a unit file only for its own slot, and says so in two lines."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import landscape.executor as executor_module
from landscape.registry import get_experiment
from landscape.runner import load_or_run, result_path
from landscape.store import Store, load_result
from landscape.unit_files import UnitFiles, read_plan, unit_id

SMALL = {"widths": (4, 8), "steps": 100}  # two width units of a fraction of a second


from functools import partial

from cli_helpers import run_cli, short_error as _short_error

short_error = partial(_short_error, notes=True)


def key_of(overrides=None) -> str:
    return result_path("capacity", "smoke", overrides=overrides).stem.split("-", 1)[1]


@pytest.fixture
def decoy(tmp_path):
    """A folder outside the results tree with a file the store must never touch."""
    folder = tmp_path / "decoy"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    return folder


def untouched(decoy):
    return sorted(p.name for p in decoy.iterdir()) == ["precious.txt"] and \
        (decoy / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("force", [False, True], ids=["run", "--force"])
@pytest.mark.parametrize("where", [".partial/capacity-{key}.units", ".partial", "capacity"])
def test_a_linked_folder_below_the_results_folder_is_refused_and_nothing_behind_it_touched(capsys, results, decoy,
                                                                                           where, force):
    link = results / where.format(key=key_of())
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(decoy, target_is_directory=True)
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", *(["--force"] * force))
    lines = short_error(err, "is a symbolic link to", "follows no link below the results folder")
    assert code == 2 and lines[1] == f"fix: remove the link (rm {link}) and rerun"
    assert untouched(decoy) and link.is_symlink()


@pytest.mark.parametrize("force", [False, True], ids=["run", "--force"])
@pytest.mark.parametrize("name", ["unit-0000-{key}.npz", "unit-0001.pt", "unit-0001.dce-split1.pt", "plan.json"])
def test_a_linked_file_in_the_unit_folder_is_refused(capsys, results, decoy, name, force):
    units = Store().units_dir("capacity", key_of())
    units.mkdir(parents=True)
    link = units / name.format(key=key_of())
    link.symlink_to(decoy / "precious.txt")
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", *(["--force"] * force))
    assert code == 2
    short_error(err, str(link), "is a symbolic link")
    assert untouched(decoy) and link.is_symlink()


@pytest.mark.parametrize("force", [False, True], ids=["run", "--force"])
def test_a_linked_result_file_is_refused(capsys, results, decoy, force):
    path = Store().path("capacity", key_of(), "smoke")
    path.parent.mkdir(parents=True)
    path.symlink_to(decoy / "precious.txt")
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", *(["--force"] * force))
    assert code == 2
    short_error(err, str(path), "is a symbolic link")
    assert untouched(decoy) and path.is_symlink()


@pytest.mark.parametrize("where", ["unit", "result"])
def test_a_folder_named_like_a_file_of_the_store_is_refused(capsys, results, where):
    key = key_of()
    folder = (Store().units_dir("capacity", key) / f"unit-0001-{key}.npz" if where == "unit"
              else Store().path("capacity", key, "smoke"))
    folder.mkdir(parents=True)
    (folder / "inside.txt").write_text("x")
    for force in ([], ["--force"]):
        code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", *force)
        lines = short_error(err, f"{folder} is a folder, where the store keeps a regular file")
        assert code == 2 and lines[1] == f"fix: move it out of the way (e.g. mv {folder} {folder}.bak) and rerun"
        assert (folder / "inside.txt").read_text() == "x"


@pytest.mark.smoke
def test_files_the_store_did_not_write_stay_and_so_does_their_folder(capsys, results):
    units = Store().units_dir("capacity", key_of(SMALL))
    units.mkdir(parents=True)
    (units / "notes.txt").write_text("mine")
    code, out, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet",
                             *[f"--set={k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                               for k, v in SMALL.items()])
    assert code == 0 and "stored" in out
    assert f"warning: {units} kept: it holds notes.txt, which the store did not write" in err
    assert sorted(p.name for p in units.iterdir()) == ["notes.txt"] and (units / "notes.txt").read_text() == "mine"


def interrupt_after_first_unit(monkeypatch, calls):
    execute = executor_module.execute

    def interrupted(run, unit, *args, **kwargs):
        calls.append(unit[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return execute(run, unit, *args, **kwargs)

    monkeypatch.setattr(executor_module, "execute", interrupted)


@pytest.mark.smoke
def test_a_unit_file_copied_into_another_units_slot_is_discarded_and_that_unit_rerun(results, monkeypatch,
                                                                                     tmp_path, capsys):
    """The issue's case: after a kill, width 4's finished file copied into width 8's slot was assembled and stored
    (twice the same numbers, a valid checksum); now its header's unit index is compared with the slot."""
    reference = load_or_run("capacity", "smoke", overrides=SMALL, progress=False, store=Store(tmp_path / "ref"))
    calls = []
    interrupt_after_first_unit(monkeypatch, calls)
    with pytest.raises(KeyboardInterrupt):
        load_or_run("capacity", "smoke", overrides=SMALL, progress=False)
    units = Store().units_dir("capacity", reference.key)
    first = units / f"unit-0000-{reference.key}.npz"
    shutil.copy(first, units / f"unit-0001-{reference.key}.npz")
    calls.clear()
    resumed = load_or_run("capacity", "smoke", overrides=SMALL, progress=False)
    assert calls == [8]  # width 8 ran again; width 4's own file was kept
    assert "unit-0001" in capsys.readouterr().err
    for k, v in reference.arrays.items():
        assert np.array_equal(v, resumed.arrays[k], equal_nan=v.dtype.kind == "f"), k
    assert not np.array_equal(resumed["train_accuracy"][0], resumed["train_accuracy"][1])


@pytest.mark.parametrize("case, why", [
    ("unit description", "its unit description (other) is not unit 1's (u1)"),
    ("unit index", "it holds unit 0, not unit 1"),
    ("another run's file", "does not hash to its key"),
    ("another experiment's file", "does not hash to its key"),
])
def test_a_unit_file_that_is_not_its_slots_is_discarded_and_its_own_kept(results, capsys, case, why):
    from landscape.store import config_key

    key = config_key("capacity", 3, {"a": 1})
    folder = results / ".partial" / f"capacity-{key}.units"
    files = UnitFiles(folder, "capacity", 3, key, {"a": 1}, ["u0", "u1"])
    arrays, info = {"x": np.zeros(2)}, {"wall_time_s": 1.0}
    files.save(0, arrays, {}, info)
    if case == "unit description":
        UnitFiles(folder, "capacity", 3, key, {"a": 1}, ["u0", "other"]).save(1, arrays, {}, info)
    elif case == "unit index":
        shutil.copy(files.path(0), files.path(1))
    else:
        experiment = "capacity" if case == "another run's file" else "spiral_ce"
        other_key = config_key(experiment, 3, {"a": 2})
        other = UnitFiles(results / "elsewhere", experiment, 3, other_key, {"a": 2}, ["u0", "u1"], root=results)
        other.save(1, arrays, {}, info)
        other.path(1).replace(files.path(1))  # renamed into this run's slot
    assert list(files.load(2)) == [0] and not files.path(1).exists()
    assert f"warning: {files.path(1)}: " in (err := capsys.readouterr().err) and why in err, err


def test_unit_ids_name_the_unit_description():
    from landscape.runner import units_of

    capacity = get_experiment("capacity")

    plan = units_of(capacity, capacity.presets["smoke"])
    ids = [unit_id(u) for u in plan.units]
    assert len(set(ids)) == len(ids) and ids == [unit_id(u) for u in units_of(capacity,
                                                                              capacity.presets["smoke"]).units]
    code = ("from landscape.registry import get_experiment; from landscape.runner import units_of; "
            "from landscape.unit_files import unit_id; e = get_experiment('capacity'); "
            "print(unit_id(units_of(e, e.presets['smoke']).units[0]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ids[0]  # the same in another process


ODD_PLANS = {
    "types": '{"experiment": ["x"], "key": {}, "units": [], "labels": 3}',
    "preset": '{"experiment": "capacity", "key": "bbbbbbbbbbbb", "units": 3, "labels": [], "overrides": {}, '
              '"preset": 5}',
    "deep": "[" * 100000,
    "bytes": b"\xff\xfe\x00",
    "null": "null",
    "bool units": '{"experiment": "capacity", "key": "cccccccccccc", "units": true, "labels": [], "overrides": {}}',
}


def test_list_survives_anything_in_partial(capsys, results, decoy):
    partial = results / ".partial"
    partial.mkdir()
    for i, (name, text) in enumerate(ODD_PLANS.items()):
        folder = partial / f"capacity-{i:012d}.units"
        folder.mkdir()
        (folder / "plan.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    (partial / "capacity-dddddddddddd.units").mkdir()
    (partial / "capacity-dddddddddddd.units" / "plan.json").mkdir()  # a folder for a plan
    (partial / "capacity-eeeeeeeeeeee.units").write_text("")  # a file for a unit folder
    (partial / "capacity-ffffffffffff.units").symlink_to(decoy, target_is_directory=True)
    (partial / "capacity-.units").mkdir()
    good = partial / "capacity-aaaaaaaaaaaa.units"
    good.mkdir()
    (good / "plan.json").write_text(json.dumps({"experiment": "capacity", "key": "aaaaaaaaaaaa", "preset": None,
                                                "units": 3, "labels": [], "overrides": {"x": [[1, {"a": 2}]]}}))
    code, out, err = run_cli(capsys, "list")
    assert code == 0 and "Traceback" not in err
    assert 'custom --set x=[[1, {"a": 2}]] (key aaaaaaaaaaaa): missing (started), 0/3 units' in out
    assert out.count("(key ") == 1 and untouched(decoy)
    for folder in partial.iterdir():
        assert read_plan(folder) is None or folder == good


@pytest.mark.parametrize("command", [["list"], ["claims"], ["verify"], ["verify", "spiral_ce"]])
@pytest.mark.parametrize("root", ["missing", "a file"])
def test_a_results_folder_that_is_missing_or_a_file_is_an_error_not_everything_missing(capsys, tmp_path,
                                                                                       monkeypatch, command, root):
    path = tmp_path / "results"
    if root == "a file":
        path.write_text("")
    monkeypatch.setenv("LANDSCAPE_RESULTS", str(path))
    code, _, err = run_cli(capsys, *command)
    lines = short_error(err, f"results folder {path}", "does not exist" if root == "missing" else "is a file")
    assert code == 2 and lines[1].startswith("fix: point LANDSCAPE_RESULTS at the results folder")


@pytest.mark.smoke
def test_a_failed_write_is_two_lines_and_leaves_nothing_half_written(capsys, results, monkeypatch):
    """A full disk after the writability check: ENOSPC while the result is written (its units are already
    saved: the same command resumes from them)."""
    import errno

    real_fsync = os.fsync

    def full(fd):
        if ".smoke+set-" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    sets = ["--set", "widths=4,8", "--set", "steps=100"]
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", *sets)
    lines = short_error(err, "cannot write", "No space left on device", "nothing half-written is left")
    assert code == 2 and lines[1].startswith("fix: free space there")
    assert not list(results.rglob("*.tmp")) and not list((results / "capacity").glob("*.npz"))
    assert len(list(results.rglob("unit-*.npz"))) == 2  # kept for the rerun
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert run_cli(capsys, "run", "capacity", "--preset", "smoke", "--quiet", *sets)[0] == 0


@pytest.mark.smoke
def test_a_write_refused_by_the_system_in_a_real_process(results):
    """A real write error (the process may write files of at most 4 kB: EFBIG) in a real process."""
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); from landscape import cli; "
              "sys.exit(cli.main(['run', 'capacity', '--preset', 'smoke', '--quiet', '--set', 'widths=4,8', "
              "'--set', 'steps=100']))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    short_error(out.stderr, "cannot write", "File too large", "nothing half-written is left")
    assert not list(results.rglob("*.tmp")) and not list(results.rglob("*.npz"))


def test_verify_refuses_another_experiments_file_in_an_experiments_folder(capsys, results):
    from landscape.store import Result, config_key, save_result

    exp = get_experiment("capacity")
    config = exp.preset("smoke")
    key = config_key(exp.name, exp.version, config)
    path = results / "spiral_ce" / f"smoke-{key}.npz"  # a valid capacity file, placed in spiral_ce/
    save_result(path, Result(exp.name, key, dataclasses.asdict(config), {"x": np.zeros(2)}, {},
                             {"experiment_version": exp.version}))
    load_result(path)  # valid as a file
    code, out, _ = run_cli(capsys, "verify", "spiral_ce")
    assert code == 1 and f"CORRUPT {path}: holds a result of capacity, not of spiral_ce" in out


def test_a_checkpoint_writes_through_no_planted_link_and_fails_in_two_lines(tmp_path, decoy):
    import torch

    from landscape.runtime import Checkpoint
    from landscape.validation import NotWritableError

    folder = tmp_path / "units"
    folder.mkdir()
    (folder / "unit-0000.tmp").symlink_to(decoy / "precious.txt")  # where the old code wrote its temporary file
    checkpoint = Checkpoint(folder / "unit-0000.pt")
    checkpoint.save({"x": torch.ones(2)})
    assert untouched(decoy) and checkpoint.load()["x"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in folder.iterdir()) == ["unit-0000.pt", "unit-0000.tmp"]
    (tmp_path / "file").write_text("")
    with pytest.raises(NotWritableError, match="cannot write the checkpoint .*nothing half-written is left"):
        Checkpoint(tmp_path / "file" / "unit-0000.pt").save({"x": torch.ones(2)})
