import json

import numpy as np
import pytest

from landscape.registry import config_from_dict, get_experiment
from landscape.runner import load, load_or_run
from landscape.store import CorruptResultError, MissingResultError, Result, Store, config_key, load_result, save_result
from landscape.validation import ConfigError


def small_result():
    config = {"a": 1, "widths": [2, 4]}
    key = config_key("x", 1, config)
    return Result("x", key, config, {"curve": np.arange(5.0), "names": np.array(["a", "b"])}, {"s": 1.5},
                  {"device": "cpu", "experiment_version": 1})


def saved(tmp_path):
    r = small_result()
    path = tmp_path / f"full-{r.key}.npz"
    save_result(path, r)
    return path


def rewrite(path, edit_meta=lambda meta: None, edit_arrays=lambda arrays: None):
    """Edit a stored file as a person with numpy could: change the header or an array, keep the stored checksum."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    edit_meta(meta)
    edit_arrays(arrays)
    np.savez_compressed(path, **arrays, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def test_round_trip(tmp_path):
    path = saved(tmp_path)
    r = load_result(path)
    assert r.arrays["curve"].tolist() == [0, 1, 2, 3, 4] and r.summary == {"s": 1.5}
    assert r.config == {"a": 1, "widths": [2, 4]}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_truncated_file_is_corrupt(tmp_path):
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CorruptResultError, match="cannot be read"):
        load_result(path)


def test_untouched_rewrite_still_loads(tmp_path):
    """The edits below fail because of what they change, not because numpy rewrote the file."""
    path = saved(tmp_path)
    rewrite(path)
    assert load_result(path).summary == {"s": 1.5}


@pytest.mark.parametrize("edit_meta, edit_arrays", [
    (lambda m: None, lambda a: a.update(curve=a["curve"] + 1)),
    (lambda m: m["summary"].update(s=1.6), lambda a: None),
    (lambda m: m["provenance"].update(device="cuda:0"), lambda a: None),
    (lambda m: m.update(experiment="y"), lambda a: None),
], ids=["array", "summary", "provenance", "experiment"])
def test_any_edit_fails_the_checksum_and_names_the_file(tmp_path, edit_meta, edit_arrays):
    path = saved(tmp_path)
    rewrite(path, edit_meta, edit_arrays)
    with pytest.raises(CorruptResultError, match=f"{path.name}.*checksum"):
        load_result(path)


def test_config_must_hash_to_the_key(tmp_path):
    """Even with a recomputed checksum, a header whose config is not the one its key names is refused."""
    import landscape.store as store

    path = saved(tmp_path)
    r = load_result(path)
    r.config["a"] = 2
    store.save_result(path, r)  # a valid checksum over the edited header
    with pytest.raises(CorruptResultError, match="does not hash to its key"):
        load_result(path)
    renamed = path.with_name("full-000000000000.npz")
    save_result(renamed, small_result())
    with pytest.raises(CorruptResultError, match="does not hash to its key"):
        load_result(renamed)


def test_older_format_is_refused(tmp_path):
    path = saved(tmp_path)
    rewrite(path, lambda m: m.pop("format"))
    with pytest.raises(CorruptResultError, match="format 1"):
        load_result(path)


def test_every_stored_result_passes_the_full_integrity_check():
    """Every committed result file is in the current format, with a checksum over the whole file and a config
    that hashes to its key, and its config rebuilt as the config type hashes to the same key."""
    from landscape.registry import all_experiments

    checked = 0
    for exp in all_experiments():
        for path in Store().stored(exp.name):
            r = load_result(path)
            config = config_from_dict(exp.config_type, r.config)
            assert config_key(exp.name, r.provenance["experiment_version"], config) == r.key, path
            checked += 1
    assert checked >= 10


@pytest.mark.smoke
def test_load_or_run_stores_with_provenance_then_loads(tmp_store):
    first = load_or_run("spiral_dynamical", "smoke", store=tmp_store, device="cpu", progress=False)
    for field in ("experiment_version", "git_commit", "torch_version", "device", "wall_time_s", "preset"):
        assert field in first.provenance
    assert first.config["dtype"] == "float64" and first.config["seed"] == 0
    again = load_or_run("spiral_dynamical", "smoke", store=tmp_store, progress=False)
    assert again.provenance["created_utc"] == first.provenance["created_utc"]  # loaded, not recomputed


@pytest.mark.smoke
def test_corrupt_result_is_recomputed_when_allowed_and_kept_aside(tmp_store, capsys):
    exp = get_experiment("spiral_ce")
    path = tmp_store.path(exp.name, config_key(exp.name, exp.version, exp.preset("smoke")), "smoke")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip file")
    result = load_or_run("spiral_ce", "smoke", store=tmp_store, progress=False)
    assert len(result["objective"]) == 401 and load_result(path).key == result.key
    assert path.with_name(path.name + ".corrupt").read_bytes() == b"not a zip file"
    assert "moved to" in capsys.readouterr().err


def test_unwritable_results_folder_fails_before_any_compute(tmp_path, monkeypatch):
    from landscape.store import ResultsNotWritableError

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")
    exp = get_experiment("spiral_ce")
    def must_not_run(*args, **kwargs):
        raise AssertionError("computed before checking the results folder")

    monkeypatch.setitem(exp.__dict__, "run", must_not_run)  # a frozen dataclass: swap the field in its __dict__
    with pytest.raises(ResultsNotWritableError, match="not writable"):
        load_or_run("spiral_ce", "smoke", store=Store(blocker / "results"), progress=False)


def test_missing_or_corrupt_result_is_an_error_when_computing_is_off(tmp_store, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "never")
    with pytest.raises(MissingResultError, match="no stored result for spiral_ce") as missing:
        load_or_run("spiral_ce", "smoke", store=tmp_store)
    assert "python -m landscape run spiral_ce --preset smoke" in missing.value.hint
    exp = get_experiment("spiral_ce")
    path = tmp_store.path(exp.name, config_key(exp.name, exp.version, exp.preset("smoke")), "smoke")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    with pytest.raises(CorruptResultError):
        load_or_run("spiral_ce", "smoke", store=tmp_store)


def test_bad_compute_policy(monkeypatch, tmp_store):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "sometimes")
    with pytest.raises(ConfigError, match="LANDSCAPE_COMPUTE='sometimes'.*'auto', 'never'"):
        load_or_run("spiral_ce", "smoke", store=tmp_store)


def test_keys_do_not_depend_on_how_a_number_is_written():
    from landscape.topics.lrd_toy.experiment import DecayConfig
    from landscape.topics.spiral.experiment import SpiralConfig
    from landscape.topics.sweeps.experiment import SweepConfig

    exp = get_experiment("spiral_dynamical")
    full = exp.preset("full")
    for variant in (SpiralConfig(amplitude=70), SpiralConfig(amplitude=np.float32(70), steps=np.int64(70_000)),
                    SpiralConfig(lr=np.float64(1), width=np.int32(100), final_plain_ce=np.bool_(True))):
        assert variant == full and config_key(exp.name, exp.version, variant) == config_key(exp.name, exp.version, full)
        assert type(variant.amplitude) is float and type(variant.steps) is int
    assert DecayConfig(exponents=[0, 1, 2], seeds=np.arange(5)) == DecayConfig()
    sweep = SweepConfig(settings=[["dce", 1, 500, 1], ("dce", np.float32(10), np.int64(500), 1.0)])
    assert sweep.settings == (("dce", 1.0, 500, 1.0), ("dce", 10.0, 500, 1.0))
    assert all(type(a) is float for _, a, _, _ in sweep.settings)


@pytest.mark.parametrize("field, value", [("steps", 2.7), ("period", 500.5), ("width", "100"), ("amplitude", "70"),
                                          ("final_plain_ce", 1)])
def test_values_of_the_wrong_kind_are_still_refused(field, value):
    from landscape.topics.spiral.experiment import SpiralConfig

    with pytest.raises(ConfigError, match=field):
        SpiralConfig(**{field: value})


def test_key_changes_with_config_and_version():
    exp = get_experiment("spiral_dynamical")
    smoke, full = exp.preset("smoke"), exp.preset("full")
    assert config_key(exp.name, 1, smoke) != config_key(exp.name, 1, full)
    assert config_key(exp.name, 1, smoke) != config_key(exp.name, 2, smoke)


def test_unknown_experiment_and_preset_are_named():
    with pytest.raises(ConfigError, match="experiment"):
        get_experiment("cifar_magic")
    with pytest.raises(ConfigError, match="preset"):
        get_experiment("spiral_ce").preset("huge")


def test_config_round_trips_through_its_stored_dict():
    import dataclasses

    for exp_name in ("spiral_dynamical", "spiral_init_table"):
        exp = get_experiment(exp_name)
        for config in exp.presets.values():
            stored = json.loads(json.dumps(dataclasses.asdict(config)))
            assert config_from_dict(exp.config_type, stored) == config


def test_sweep_settings_are_named_tuples_stored_as_lists():
    """A `Setting` normalizes its fields from their annotations and serializes as the plain list, so keys stay."""
    import dataclasses

    from landscape.topics.sweeps.experiment import SweepConfig
    from landscape.settings import Setting

    sweep = SweepConfig(settings=[["dce", 1, 500, 1], ("dmse2", np.float32(5), np.int64(100), np.float64(0.5))])
    assert sweep.settings == (Setting("dce", 1.0, 500, 1.0), Setting("dmse2", 5.0, 100, 0.5))
    assert all(type(s) is Setting and type(s.amplitude) is float and type(s.period) is int and type(s.lr) is float
               for s in sweep.settings)
    stored = json.loads(json.dumps(dataclasses.asdict(sweep)))
    assert stored["settings"] == [["dce", 1.0, 500, 1.0], ["dmse2", 5.0, 100, 0.5]]
    plain = {**stored, "settings": [tuple(s) for s in sweep.settings]}
    assert config_key("capacity", 2, sweep) == config_key("capacity", 2, plain)
    exp = get_experiment("capacity")
    assert config_from_dict(exp.config_type, stored).settings == sweep.settings
    with pytest.raises(ConfigError, match=r"settings=\('dce', 1\.0\) is not allowed: settings must be tuples"):
        SweepConfig(settings=[["dce", 1.0]])


@pytest.mark.smoke
def test_loaded_results_carry_their_config_type(tmp_store):
    """The runner attaches the config dataclass; the file layer alone keeps the stored dict."""
    from landscape.topics.spiral.experiment import SpiralConfig
    from landscape.runner import read

    exp = get_experiment("spiral_dynamical")
    full = load("spiral_dynamical", "full")
    assert type(full.typed_config) is SpiralConfig and full.typed_config == exp.preset("full")
    path = Store().path(exp.name, full.key, "full")
    assert load_result(path).typed_config is None and load_result(path).config == full.config
    assert read(path).typed_config == exp.preset("full")
    smoke = load_or_run("spiral_ce", "smoke", store=tmp_store, progress=False, device="cpu")
    assert smoke.typed_config == get_experiment("spiral_ce").preset("smoke")


def test_every_stored_array_has_named_axes_that_fit_it():
    """A loaded result names the axes of each array (the experiment's declaration): as many names as dimensions."""
    from pathlib import Path

    from landscape.runner import read

    files = sorted((Path(__file__).resolve().parents[1] / "results").glob("*/*.npz"))
    assert files
    for f in files:
        result = read(f)
        for name, array in result.arrays.items():
            assert len(result.axes.get(name, ())) == array.ndim, (result.experiment, name, array.shape)
    sweep = read(next(f for f in files if f.parent.name == "capacity"))
    assert sweep.axes["train_accuracy"] == ("width", "record", "member") and sweep.axes["member_seed"] == ("member",)


def test_compute_seconds_sums_the_units_cpu_time_not_their_overlapping_wall_time():
    from types import SimpleNamespace
    from landscape.display import compute_seconds

    units = SimpleNamespace(provenance={"wall_time_s": 900.0, "units": {"cpu_time_s": [100.0, 250.5],
                                                                         "wall_time_s": [300.0, 800.0]}})
    assert compute_seconds(units) == 350.5
    assert compute_seconds(SimpleNamespace(provenance={"wall_time_s": 19.4})) == 19.4
