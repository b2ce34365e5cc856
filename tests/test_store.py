import json

import numpy as np
import pytest

from landscape.experiments import config_from_dict, get_experiment
from landscape.store import (CorruptResultError, MissingResultError, Result, Store, config_key, load, load_or_run,
                             load_result, save_result)
from landscape.validation import ConfigError


def small_result():
    return Result("x", "k", {"a": 1}, {"curve": np.arange(5.0), "names": np.array(["a", "b"])}, {"s": 1.5},
                  {"device": "cpu"})


def test_round_trip(tmp_path):
    save_result(tmp_path / "r.npz", small_result())
    r = load_result(tmp_path / "r.npz")
    assert r.arrays["curve"].tolist() == [0, 1, 2, 3, 4] and r.summary == {"s": 1.5} and r.config == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]  # no temporary file left behind


def test_truncated_file_is_corrupt(tmp_path):
    path = tmp_path / "r.npz"
    save_result(path, small_result())
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CorruptResultError, match="cannot be read"):
        load_result(path)


def test_changed_array_fails_the_checksum(tmp_path):
    path = tmp_path / "r.npz"
    r = small_result()
    save_result(path, r)
    meta = json.loads(np.load(path)["__meta__"].tobytes())
    np.savez_compressed(path, curve=np.arange(5.0) + 1, names=r.arrays["names"],
                        __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(CorruptResultError, match="checksum"):
        load_result(path)


def test_load_or_run_stores_with_provenance_then_loads(tmp_store):
    first = load_or_run("spiral_dynamical", "smoke", store=tmp_store, device="cpu", progress=False)
    for field in ("experiment_version", "git_commit", "torch_version", "device", "wall_time_s", "preset"):
        assert field in first.provenance
    assert first.config["dtype"] == "float64" and first.config["seed"] == 0
    again = load_or_run("spiral_dynamical", "smoke", store=tmp_store, progress=False)
    assert again.provenance["created_utc"] == first.provenance["created_utc"]  # loaded, not recomputed


def test_corrupt_result_is_recomputed_when_allowed(tmp_store):
    exp = get_experiment("spiral_ce")
    path = tmp_store.path(exp.name, config_key(exp.name, exp.version, exp.preset("smoke")), "smoke")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip file")
    result = load_or_run("spiral_ce", "smoke", store=tmp_store, progress=False)
    assert len(result["objective"]) == 401 and load_result(path).key == result.key


def test_missing_or_corrupt_result_is_an_error_when_computing_is_off(tmp_store, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "never")
    with pytest.raises(MissingResultError, match="python -m landscape run spiral_ce --preset smoke"):
        load_or_run("spiral_ce", "smoke", store=tmp_store)
    exp = get_experiment("spiral_ce")
    path = tmp_store.path(exp.name, config_key(exp.name, exp.version, exp.preset("smoke")), "smoke")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    with pytest.raises(CorruptResultError):
        load_or_run("spiral_ce", "smoke", store=tmp_store)


def test_bad_compute_policy(monkeypatch, tmp_store):
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "sometimes")
    with pytest.raises(ValueError, match="LANDSCAPE_COMPUTE"):
        load_or_run("spiral_ce", "smoke", store=tmp_store)


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
