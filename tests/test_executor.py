"""Units of work and their executors without a cluster: `--set` overrides (parsed by the config's field types,
validated as configs are), results stored under their own key, `show` and `list`, an interrupted client that
resumes its finished units, and the SLURM/PBS job scripts dask-jobqueue would submit (built, never submitted)."""

import dataclasses

import numpy as np
import pytest

import landscape.executor as executor_module
from landscape import cli
from landscape.executor import jobqueue_cluster
from landscape.unit_files import UnitFiles, read_plan
from landscape.registry import get_experiment
from landscape.runner import load, load_or_run, units_of
from landscape.store import Store, config_key, load_result
from landscape.validation import ConfigError, apply_overrides

# a small sweep: 4 width units of the spiral sweep, a fraction of a second each
SMALL = {"widths": (4, 8, 12, 16), "steps": 100}




from cli_helpers import run_cli


def test_overrides_follow_the_field_types():
    base = get_experiment("capacity").presets["full"]
    config, applied = apply_overrides(base, ["seeds=20", "widths=16,32,64", "data.points_per_class=100",
                                             "final_plain_steps=2000", 'settings=[["dce", 1, 500, 1.0]]'])
    assert (config.seeds, config.widths, config.data.points_per_class, config.final_plain_steps) == \
        (20, (16, 32, 64), 100, 2000)
    assert config.settings == (("dce", 1.0, 500, 1.0),) and type(config.settings[0]).__name__ == "Setting"
    assert apply_overrides(get_experiment("spiral_dynamical").presets["full"], ["final_plain_ce=false"])[0] \
        .final_plain_ce is False  # a bool field
    assert applied == {"seeds": 20, "widths": [16, 32, 64], "data.points_per_class": 100, "final_plain_steps": 2000,
                       "settings": [["dce", 1.0, 500, 1.0]]}
    # python values (a chapter's `load(..., overrides={...})`) and unchanged values
    assert apply_overrides(base, {"seeds": 20, "widths": (16, 32, 64)})[0] == config.__class__(
        **{**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}, "seeds": 20, "widths": (16, 32, 64)})
    assert apply_overrides(base, ["seeds=4"]) == (base, {})
    # fields that depend on each other change together (validated once, after all of them)
    assert apply_overrides(base, ["steps=1000", "record_every=100", "final_plain_steps=200"])[1] == \
        {"steps": 1000, "record_every": 100, "final_plain_steps": 200}
    with pytest.raises(ConfigError, match="record_every=400 is not allowed: record_every must be a divisor of steps"):
        apply_overrides(base, ["steps=1000"])


@pytest.mark.parametrize("item, words", [
    ("seeds=abc", ["seeds='abc'", "an integer"]),
    ("seeds=0", ["seeds=0", "integer >= 1"]),
    ("widths=16,x", ["widths='x'", "an integer"]),
    ("dtype=float16", ["dtype='float16'", "'float32', 'float64'"]),
    ("nope=1", ["nope is not a field of SweepConfig", "fields: widths, settings"]),
    ("data=3", ["data is a group of fields", "data.points_per_class"]),
    ("seeds", ["--set='seeds'", "KEY=VALUE"]),
    ("settings=dce,1", ["settings='dce,1'", "JSON"]),
])
def test_bad_overrides_are_config_errors_naming_field_and_allowed_values(capsys, results, item, words):
    with pytest.raises(ConfigError):
        apply_overrides(get_experiment("capacity").presets["full"], [item])
    code, _, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", "--set", item, "--quiet")
    lines = err.strip().splitlines()
    assert code == 2 and 1 <= len(lines) <= 2 and lines[0].startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert not list(results.rglob("*.npz"))  # nothing computed


@pytest.mark.smoke
def test_set_stores_under_its_own_key_loads_by_name_and_shows(capsys, results, monkeypatch):
    sets = ["--set", "widths=4,8", "--set", "steps=100", "--set", "seeds=2"]
    code, out, err = run_cli(capsys, "run", "capacity", "--preset", "smoke", *sets, "--quiet")
    assert code == 0, err
    assert "capacity (smoke --set seeds=2 --set steps=100 --set widths=4,8) stored" in out  # sorted, as stored
    result = load("capacity", "smoke", overrides={"widths": (4, 8), "steps": 100, "seeds": 2})
    assert result.provenance["overrides"] == {"widths": [4, 8], "steps": 100, "seeds": 2}
    assert result.provenance["preset"] == "smoke" and result.provenance["units"]["count"] == 2
    assert len(result.provenance["units"]["wall_time_s"]) == 2
    assert result.typed_config.widths == (4, 8)
    capacity = get_experiment("capacity")
    smoke_key = config_key("capacity", capacity.version, capacity.presets["smoke"])
    set_key = config_key("capacity", capacity.version, result.typed_config)  # the key of the config with the --set
    path = next((results / "capacity").glob("smoke+set-*.npz"))
    assert result.key == set_key != smoke_key and path.stem == f"smoke+set-{result.key}"
    assert not Store().path("capacity", smoke_key, "smoke").exists()  # nothing stored under the preset's key
    assert not (results / ".partial" / f"capacity-{result.key}.units").exists()  # cleaned up once stored

    code, out, _ = run_cli(capsys, "show", "capacity", "--preset", "smoke", *sets)
    assert code == 0
    for part in ("config:", "  widths: [4, 8]", "summary:", "provenance:", "  overrides:", "units: 2",
                 "arrays: diverged_at (2, 16)"):
        assert part in out, part
    # the file by its path (here relative to the working directory) shows the same, but for the path it was given
    assert f"file: {path}" in out
    monkeypatch.chdir(results.parent)
    relative = path.relative_to(results.parent)
    assert run_cli(capsys, "show", str(relative))[1] == out.replace(f"file: {path}", f"file: {relative}")
    code, out, _ = run_cli(capsys, "list")
    assert f"smoke+set-{result.key}: stored (--set seeds=2 --set steps=100 --set widths=4,8)" in out

    code, _, err = run_cli(capsys, "show", "capacity", "--preset", "smoke", "--set", "seeds=2")
    assert code == 2 and "no stored result for capacity" in err and "--set seeds=2" in err


@pytest.mark.smoke
def test_interrupted_client_keeps_finished_units_and_resumes(results, monkeypatch, tmp_path):
    reference = load_or_run("capacity", "smoke", overrides=SMALL, progress=False,
                            store=Store(tmp_path / "reference"))
    calls = []
    execute = executor_module.execute

    def interrupted(run, unit, *args, **kwargs):
        calls.append(unit[1])
        if len(calls) == 3:
            raise KeyboardInterrupt  # the client stops in the middle of the third unit
        return execute(run, unit, *args, **kwargs)

    monkeypatch.setattr(executor_module, "execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_or_run("capacity", "smoke", overrides=SMALL, progress=False)
    folder = Store().units_dir("capacity", reference.key)
    plan = read_plan(folder)
    assert (plan["done"], plan["units"], plan["overrides"]) == (2, 4, {"widths": [4, 8, 12, 16], "steps": 100})
    # only complete unit files, each readable; no result under its final name; no temporary files left
    assert sorted(p.name for p in folder.iterdir()) == ["plan.json", f"unit-0000-{reference.key}.npz",
                                                        f"unit-0001-{reference.key}.npz"]
    for p in folder.glob("unit-*.npz"):
        load_result(p)
    assert not list((results / "capacity").glob("*.npz")) if (results / "capacity").exists() else True
    code = cli.main(["list"])
    assert code == 0

    calls.clear()
    resumed = load_or_run("capacity", "smoke", overrides=SMALL, progress=False)
    assert calls == [12, 16]  # the finished widths were not rerun
    assert resumed.arrays.keys() == reference.arrays.keys()
    for k, v in reference.arrays.items():
        assert v.dtype == resumed.arrays[k].dtype and np.array_equal(v, resumed.arrays[k], equal_nan=v.dtype.kind == "f")
    assert resumed.summary == reference.summary
    assert not folder.exists()


def test_list_shows_partly_finished_runs(capsys, results):
    exp = get_experiment("capacity")
    config = exp.presets["smoke"]
    key = config_key(exp.name, exp.version, config)
    files = UnitFiles(Store().units_dir(exp.name, key), exp.name, exp.version, key, dataclasses.asdict(config))
    files.write_plan(2, ["width 4", "width 32"], "smoke", {})
    assert "smoke: missing (started), 0/2 units" in run_cli(capsys, "list")[1]
    files.save(0, {"x": np.zeros(2)}, {}, {"wall_time_s": 1.0})
    assert "smoke: partly, 1/2 units" in run_cli(capsys, "list")[1]


def test_whole_runs_are_one_unit_and_sweeps_one_unit_per_width():
    spiral = get_experiment("spiral_dynamical")
    assert len(units_of(spiral, spiral.presets["full"]).units) == 1
    capacity = get_experiment("capacity")
    assert len(units_of(capacity, capacity.presets["full"]).units) == 8
    table = get_experiment("spiral_init_table")
    assert len(units_of(table, table.presets["full"]).units) == 18


@pytest.mark.parametrize("kind, directive, submit", [("slurm", "#SBATCH", "sbatch"), ("pbs", "#PBS", "qsub")])
def test_jobqueue_builds_the_job_script_without_submitting(monkeypatch, kind, directive, submit):
    from dask_jobqueue.core import Job

    async def refuse(self, script_filename):
        raise AssertionError("a job was submitted")

    monkeypatch.setattr(Job, "_submit_job", refuse)
    cluster = jobqueue_cluster(kind, queue="normal", account="proj42", walltime="01:30:00", memory="2GB")
    try:
        script = cluster.job_script()
        assert cluster.job_cls.submit_command == submit
        assert len(cluster.workers) == 0  # nothing submitted
    finally:
        cluster.close()
    assert script.startswith("#!/usr/bin/env bash") and directive in script
    assert "normal" in script and "proj42" in script and "01:30:00" in script
    assert "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1" in script
    assert "export MALLOC_TRIM_THRESHOLD_=134217728 MALLOC_MMAP_THRESHOLD_=33554432" in script
    assert "--nthreads 1" in script  # one single-threaded worker per job
    assert "distributed.cli.dask_worker" in script


def test_dask_is_imported_only_when_used():
    import subprocess
    import sys

    code = ("import sys, landscape.cli, landscape.runner, landscape.executor; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'dask_jobqueue')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("argv, words", [
    (["run"], ["needs an experiment name", "list --names"]),
    (["run", "capacity", "--all"], ["names or --all"]),
    (["run", "capacity", "size_lr", "--set", "seeds=2"], ["--set applies to one experiment"]),
    (["run", "capacity", "--workers", "0"], ["--workers=0", "integer >= 1"]),
])
def test_run_arguments_are_checked_before_any_compute(capsys, results, argv, words):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.smoke
def test_longest_units_get_the_highest_priority(results):
    class Recorder(executor_module.InProcess):
        def map(self, tasks, **kwargs):
            self.seen = [(t.label, t.priority) for t in tasks]
            super().map(tasks, **kwargs)

    recorder = Recorder()
    load_or_run("capacity", "smoke", overrides=SMALL, progress=False, executor=recorder)
    assert recorder.seen == [("capacity width 4", -3), ("capacity width 8", -2), ("capacity width 12", -1),
                             ("capacity width 16", 0)]
