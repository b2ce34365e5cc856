"""The command line as a user meets it: every problem a user can cause prints at most two lines (what is wrong, how
to fix it) and exits non-zero; `--debug` shows the traceback."""

import dataclasses
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from landscape import cli
from landscape.registry import get_experiment
from landscape.runner import load_or_run
from landscape.store import Result, Store, config_key, save_result

STORED = Store().root  # the committed results, before a test points LANDSCAPE_RESULTS elsewhere


from cli_helpers import run_cli, short_error




def test_missing_result_when_computing_is_off(capsys, results, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "never")
    code, _, err = run_cli(capsys, "run", "spiral_ce", "--preset", "smoke")
    lines = short_error(err, "no stored result for spiral_ce")
    assert code == 2 and lines[1] == "fix: make it with: python -m landscape run spiral_ce --preset smoke " \
                                     "(with LANDSCAPE_COMPUTE=auto)"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(capsys, results):
    code, _, err = run_cli(capsys, "run", "spiral_ce", "--preset", "smoke", "--device", "cuda")
    assert code == 2
    short_error(err, "device='cuda'", "--device cpu")


def test_bad_compute_policy(capsys, results, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "bogus")
    code, _, err = run_cli(capsys, "run", "spiral_ce", "--preset", "smoke")
    assert code == 2
    short_error(err, "LANDSCAPE_COMPUTE='bogus'", "'auto', 'never'")


def test_unwritable_results_folder(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("LANDSCAPE_RESULTS", str(tmp_path / "file" / "results"))
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")
    code, _, err = run_cli(capsys, "run", "spiral_ce", "--preset", "smoke", "--quiet")
    assert code == 2
    short_error(err, "not writable", "LANDSCAPE_RESULTS")


def truncated_copy_of_stored_results(root):
    shutil.copytree(STORED, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".partial"))
    path = next((root / "spiral_ce").glob("full-*.npz"))
    path.write_bytes(path.read_bytes()[:1000])
    return path


def test_claims_with_a_damaged_result_print_the_rest_and_fail(capsys, results):
    path = truncated_copy_of_stored_results(results)
    code, out, err = run_cli(capsys, "claims")
    assert code == 1
    short_error(err, "could not be evaluated")
    damaged = [line for line in out.splitlines() if "damaged" in line]
    assert damaged and all(path.name in line for line in damaged)
    assert any(line.startswith("reproduced") for line in out.splitlines())  # the other claims are still there
    code, out, _ = run_cli(capsys, "claims", "--json")
    assert code == 1 and '"problem": "stored result damaged' in out


def test_verify_reports_a_damaged_result(capsys, results):
    path = truncated_copy_of_stored_results(results)
    code, out, _ = run_cli(capsys, "verify", "spiral_ce")
    assert code == 1 and f"CORRUPT {path}: cannot be read" in out and "1 failure(s)" in out


def test_verify_with_nothing_stored_fails(capsys, results):
    code, _, err = run_cli(capsys, "verify", "spiral_ce")
    assert code == 1
    short_error(err, "nothing to verify")
    code, _, err = run_cli(capsys, "verify")
    assert code == 1 and "nothing to verify" in err


@pytest.mark.smoke
def test_verify_prints_the_largest_relative_difference_per_array(capsys, results):
    load_or_run("spiral_ce", "smoke", device="cpu", progress=False)
    code, out, _ = run_cli(capsys, "verify", "spiral_ce")
    rows = [line for line in out.splitlines() if line.startswith("ok")]
    assert code == 0 and rows and all("max rel diff" in row for row in rows)


def test_stored_result_from_another_device_is_named(capsys, results):
    exp = get_experiment("spiral_ce")
    config = exp.preset("smoke")
    key = config_key(exp.name, exp.version, config)
    provenance = {"experiment_version": exp.version, "device": "cuda:0", "device_name": "NVIDIA H100",
                  "wall_time_s": 1.0}
    save_result(Store().path(exp.name, key, "smoke"),
                Result(exp.name, key, dataclasses.asdict(config), {"objective": np.zeros(3)}, {}, provenance))
    code, out, err = run_cli(capsys, "run", "spiral_ce", "--preset", "smoke", "--device", "cpu")
    assert code == 0 and "stored" in out
    assert err.strip() == ("note: this stored result was computed on cuda:0 (NVIDIA H100), not cpu; add --force to "
                           "recompute it on cpu")


def test_interrupt_is_one_line_and_debug_shows_the_traceback(capsys, results, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_many", interrupted)
    code, _, err = run_cli(capsys, "run", "spiral_ce", "--preset", "smoke")
    assert code == 130 and err.strip().splitlines() == [
        "interrupted: finished units and work up to the last checkpoint (saved every 20 s) are kept; rerun the same "
        "command to resume"]
    with pytest.raises(KeyboardInterrupt):
        cli.main(["run", "spiral_ce", "--preset", "smoke", "--debug"])


def test_debug_raises_instead_of_printing(results, monkeypatch):
    from landscape.store import MissingResultError

    monkeypatch.setenv("LANDSCAPE_COMPUTE", "never")
    with pytest.raises(MissingResultError):
        cli.main(["run", "spiral_ce", "--preset", "smoke", "--debug"])


@pytest.mark.parametrize("argv, words", [
    (["run", "spiral_ce", "--preset", "huge"], ["preset='huge'", "'smoke'"]),
    (["run", "no_such"], ["experiment='no_such'", "'spiral_ce'"]),
    (["verify", "no_such"], ["experiment='no_such'"]),
])
def test_unknown_names_are_named(capsys, results, argv, words):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    short_error(err, *words)


def test_as_a_subprocess_no_traceback_reaches_the_user(results):
    """The same through `python -m landscape`, as a user runs it."""
    out = subprocess.run([sys.executable, "-m", "landscape", "run", "spiral_ce", "--preset", "smoke"],
                         capture_output=True, text=True, env={**os.environ, "LANDSCAPE_COMPUTE": "never"})
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 2 and "Traceback" not in out.stderr


# Issue #20's mixed cases: each is now the two lines, with a fix that fits.

@pytest.mark.parametrize("address, words", [
    ("not a url", ["--scheduler='not a url' is not allowed", "SCHEME://HOST:PORT"]),
    ("http://127.0.0.1:8787/status", ["http:// is a web address", "tcp://HOST:PORT"]),
    ("tcp://127.0.0.1:99999", ["PORT 1 … 65535"]),
    ("tcp://127.0.0.1", ["SCHEME://HOST:PORT"]),
    ("ucx://127.0.0.1:8786", ["SCHEME one of tcp, tls, ws, wss"]),
])
def test_a_scheduler_address_that_is_not_one_is_named(capsys, results, address, words):
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--scheduler", address)
    lines = short_error(err, *words)
    assert code == 2 and lines[1].startswith("fix: e.g. --scheduler tcp://host:8786")
    assert not list(results.iterdir())  # refused before anything is written


@pytest.mark.parametrize("item, words", [
    ("widths=100000000000", ["one unit needs at least 800 GB of memory", "width 100,000,000,000"]),
    ("steps=999999999980", ["one unit needs at least 800 GB", "50,000,000,000 records"]),
    ("seeds=1000000000000", ["one unit needs at least", "2,000,000,000,000 member(s)"]),
    ("steps=99999999999999999999", ["steps=99999999999999999999 is not allowed", "at most 9223372036854775807"]),
])
def test_sizes_that_cannot_fit_are_refused_before_any_file_is_written(capsys, results, monkeypatch, item, words):
    from landscape import runtime

    monkeypatch.setattr(runtime, "memory_total", lambda device: 128 * 10 ** 9)  # whatever this machine has
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--set", item, "--quiet")
    lines = short_error(err, *words)
    assert code == 2 and not list(results.iterdir())
    if "memory" in words[0]:
        assert "128 GB" in lines[0] and lines[1].startswith("fix: run it smaller")
    code, out, _ = run_cli(capsys, "list")
    assert "partly" not in out and "started" not in out


def test_an_allocation_that_fails_in_a_unit_is_two_lines_and_leaves_no_plan(capsys, results):
    """A size the pre-check cannot see (the data set's points): the unit's own allocation fails at once."""
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--set",
                           "data.points_per_class=100000000000", "--quiet")
    lines = short_error(err, "capacity: a unit could not allocate its memory (it asked for", "GiB")
    assert code == 2 and lines[1].startswith("fix: run it smaller")
    assert not list(results.rglob("plan.json")) and not list(results.rglob("*.npz"))


def test_show_of_a_file_that_is_no_result_suggests_no_nonsense(capsys, results, tmp_path):
    garbage = tmp_path / "probe" / "fake-junk.npz"
    garbage.parent.mkdir()
    garbage.write_bytes(os.urandom(3000))
    code, _, err = run_cli(capsys, "show", str(garbage))
    lines = short_error(err, f"{garbage}: cannot be read as a result file")
    assert code == 2 and "run probe" not in err and "not a result file of the book's store" in lines[1]
    damaged = results / "capacity" / "smoke-0123456789ab.npz"  # named as a stored result: recompute it
    damaged.parent.mkdir()
    damaged.write_bytes(os.urandom(3000))
    code, _, err = run_cli(capsys, "show", str(damaged))
    assert code == 2 and short_error(err)[1] == "fix: recompute it: python -m landscape run capacity --preset smoke " \
                                                "--force"
    unknown = tmp_path / "probe" / "full-0123456789ab.npz"  # a valid file of an experiment this book lacks
    config = {"a": 1}
    key = config_key("no_such", 1, config)
    unknown = unknown.with_name(f"full-{key}.npz")
    save_result(unknown, Result("no_such", key, config, {"x": np.zeros(2)}, {}, {"experiment_version": 1}))
    code, _, err = run_cli(capsys, "show", str(unknown))
    assert code == 2
    short_error(err, "not a result of this book's experiments", "experiment='no_such'")
