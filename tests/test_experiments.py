"""Every experiment from scratch at its smoke preset, and every stored result against the code (drift check)."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from landscape.registry import all_experiments, config_from_dict, get_experiment
from landscape.runtime import resolve_device
from landscape.store import Store, config_key, load_result

EXPERIMENTS = [e.name for e in all_experiments()]
STORE = Store()
STORED = [(p.parent.name, p) for name in EXPERIMENTS for p in STORE.stored(name)]


@pytest.mark.smoke
@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_smoke_preset_runs_from_scratch_and_passes_its_drift_check(name, smoke_results, monkeypatch):
    exp = get_experiment(name)
    result = smoke_results[name]  # computed from scratch, once per session (tests/conftest.py)
    monkeypatch.setenv("LANDSCAPE_COMPUTE", "auto")  # the drift check recomputes, with the data the run read
    monkeypatch.setenv("LANDSCAPE_CIFAR10", str(smoke_results.cifar10))
    assert result.provenance["preset"] == "smoke"
    for key, array in result.arrays.items():
        if array.dtype.kind == "f" and array.size:
            # NaN may mark "not applicable" or a recorded divergence; ±inf would be a silent overflow
            assert not np.isinf(array).any(), f"{name}: {key} stores ±inf"
            assert np.isfinite(array).any(), f"{name}: {key} is entirely NaN"
    for c in exp.drift_check(exp.preset("smoke"), result, device=resolve_device("cpu")):
        assert c.stored.shape == c.recomputed.shape, c.name
        np.testing.assert_allclose(c.recomputed, c.stored, rtol=c.rtol, atol=c.atol, equal_nan=True, err_msg=c.name)


@pytest.mark.slow
@pytest.mark.parametrize("name,path", STORED, ids=[f"{n}/{p.name}" for n, p in STORED])
def test_stored_result_is_what_the_code_produces(name, path):
    """Recompute the first steps of the stored run; a forgotten version bump or a silent code change fails here."""
    exp = get_experiment(name)
    result = load_result(path)
    config = config_from_dict(exp.config_type, result.config)
    assert result.key == config_key(exp.name, exp.version, config) == path.stem.split("-")[-1]
    for c in exp.drift_check(config, result, device=resolve_device("cpu")):
        assert c.stored.shape == c.recomputed.shape, c.name
        np.testing.assert_allclose(c.recomputed, c.stored, rtol=c.rtol, atol=c.atol, equal_nan=True, err_msg=c.name)


def test_every_stored_result_belongs_to_a_current_preset():
    current = {STORE.path(e.name, config_key(e.name, e.version, cfg), preset)
               for e in all_experiments() for preset, cfg in e.presets.items()}
    stale = [str(p) for _, p in STORED if p not in current]
    assert not stale, f"stored results of an old version or config (delete or regenerate them): {stale}"


def test_full_results_are_stored_with_provenance_and_stay_small():
    missing = [e.name for e in all_experiments() if "full" in e.presets and not STORE.path(
        e.name, config_key(e.name, e.version, e.preset("full")), "full").exists()]
    assert not missing, f"no stored full result for {missing}: run `python -m landscape run NAME`"
    total = sum(p.stat().st_size for _, p in STORED)
    assert total < 30e6, f"results/ holds {total / 1e6:.1f} MB"
    for _, path in STORED:
        prov = load_result(path).provenance
        for field in ("experiment_version", "git_commit", "torch_version", "device", "wall_time_s", "created_utc"):
            assert field in prov, f"{path.name} lacks provenance field {field}"


REQUIRED_CLAIMS = ["dl.spiral.ce_fails", "dl.spiral.dynamical_trains", "dl.spiral.cascade",
                   "dl.spiral.sharpness_crosses_2_over_eta", "dl.spiral.mid_period_sharpness_decreases",
                   "dl.spiral.ntk_grows", "dl.spiral.init_sensitivity",
                   "lrd.toy.late_decay_lowers_test_loss", "lrd.toy.reaches_min_norm", "lrd.toy.gamma0_no_effect",
                   "lrd.toy.noise_model", "lrd.toy.trace_decreases_along_path",
                   "lrd.nn.test_loss_falls_with_decay_epoch", "lrd.nn.path_follows_train_valley_to_test_minimum",
                   "dl.followup.size_deepens_minima", "dl.followup.lr_flattens_minima",
                   "dl.followup.large_lr_edge_of_stability",
                   "dl.size.small_nets_rescued", "dl.size.overparam_generalizes_better", "dl.amp_period.map",
                   "dl.followup.dmse_improves_validation", "dl.image.mnist1d", "dl.followup.dce_gain_largest_small",
                   "dl.spiral.accuracy_staircase", "dl.spiral.objective_minima_fall", "dl.spiral.ntk_drops_at_boundaries",
                   "dl.cycle.valleys_widen_then_narrow"]


def test_claims_json_from_the_command_line():
    out = subprocess.run([sys.executable, "-m", "landscape", "claims", "--json"], capture_output=True, text=True,
                         check=True).stdout
    claims = {c["id"]: c for c in json.loads(out)}
    for cid in REQUIRED_CLAIMS:
        assert cid in claims, cid
        c = claims[cid]
        assert {"id", "kind", "status", "paper", "ours", "criterion", "source", "reason"} <= set(c)
        assert c["status"] != "not testable", f"{cid}: {c['ours']}"  # computed from the stored full run
    for cid, c in claims.items():  # every verdict says why on one line: the deciding number and its condition
        assert 0 < len(c["reason"]) <= 160 and "\n" not in c["reason"] and "nan" not in c["reason"], cid
    kinds = {cid: c["kind"] for cid, c in claims.items()}
    assert set(kinds.values()) == {"paper", "control", "finding"}
    assert kinds["lrd.toy.gamma0_no_effect"] == "control"
    assert {cid for cid, k in kinds.items() if k == "finding"} == {
        "lrd.toy.noise_model", "lrd.toy.trace_decreases_along_path", "dl.spiral.init_sensitivity"}
    for cid, c in claims.items():  # a paper claim quotes the paper or the authors' code, never our own check
        if c["kind"] == "paper":
            assert "notes" not in (c["paper"] + c["source"]).lower(), cid
            assert "independent check" not in c["paper"].lower(), cid


@pytest.mark.parametrize("kind", ["papers", "Paper", "", None])
def test_a_claim_with_an_unknown_kind_is_an_error_naming_the_allowed_ones(kind):
    from landscape.scorecard import KINDS, Claim, claim

    with pytest.raises(ValueError, match="kind") as err:
        Claim("x.y", "chapter", "paper", "Fig. 1", "criterion", kind=kind)
    assert all(k in str(err.value) for k in KINDS)
    with pytest.raises(ValueError, match="kind"):
        claim("x.y", kind=kind, title="t", chapter="c", paper="p", source="s", criterion="c", needs=())
    for ok in KINDS:
        assert Claim("x.y", "chapter", "paper", "Fig. 1", "criterion", kind=ok).kind == ok


@pytest.mark.parametrize("status", ["reproducd", "Reproduced", "", None])
def test_a_claim_with_an_unknown_status_is_an_error_naming_the_allowed_ones(status):
    from landscape.scorecard import STATUSES, Claim

    with pytest.raises(ValueError, match="status") as err:
        Claim("x.y", "chapter", "paper", "Fig. 1", "criterion", status=status)
    assert all(s in str(err.value) for s in STATUSES)
    for ok in STATUSES:
        assert Claim("x.y", "chapter", "paper", "Fig. 1", "criterion", status=ok).status == ok


def test_cli_errors_name_the_field():
    out = subprocess.run([sys.executable, "-m", "landscape", "run", "spiral_ce", "--preset", "huge"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "preset" in out.stderr and "'smoke'" in out.stderr
    out = subprocess.run([sys.executable, "-m", "landscape", "run", "no_such"], capture_output=True, text=True)
    assert out.returncode == 2 and "experiment" in out.stderr


def test_cli_list_names_every_experiment():
    out = subprocess.run([sys.executable, "-m", "landscape", "list"], capture_output=True, text=True, check=True)
    for name in EXPERIMENTS:
        assert name in out.stdout


@pytest.mark.parametrize("full, partial, status", [(True, False, "reproduced"), (True, True, "reproduced"),
                                                   (False, True, "partly"), (False, False, "not reproduced"),
                                                   (np.bool_(False), [1], "partly"), (np.bool_(True), [], "reproduced"),
                                                   (False, [], "not reproduced")])
def test_the_status_ladder_on_made_up_outcomes(full, partial, status):
    from landscape.scorecard import verdict

    assert verdict(full, partial) == status


def test_claims_views_put_the_status_first_and_link_each_claim_to_its_chapter_row():
    from landscape.scorecard import PAPERS, Claim, ClaimsView, anchor, claim_link, claims_view, paper_of

    c = Claim("lrd.toy.x_y", "lrd_toy", "the paper says a|b", "abstract", "crit", "ours <1>", "partly",
              kind="finding", title="A title")
    chapter = ClaimsView([c], "chapter")._repr_html_()
    assert f'id="{anchor(c.id)}"' in chapter and "status-partly" in chapter and "&lt;1&gt;" in chapter
    assert chapter.index("claim-status") < chapter.index("A title")
    c.reason = "the deciding number 0.53 with the 2021 init"
    verdict = ClaimsView([c], "verdict")._repr_html_()
    assert c.reason in verdict and c.reason in ClaimsView([c], "verdict")._repr_markdown_()  # on the line
    with pytest.raises(ValueError, match="reason"):
        Claim("x.y", "c", "p", "s", "crit", reason="x" * 161)
    assert claim_link(c) == "lrd_decay.html#claim-lrd-toy-x-y" and f'href="{claim_link(c)}"' in verdict
    assert "<details" in ClaimsView([c], "scorecard")._repr_html_() and "<details" not in verdict
    assert "a\\|b" in ClaimsView([c], "chapter")._repr_markdown_()
    assert paper_of("dl.followup.q") == "followup2024" and paper_of("dl.spiral.q") == "icml2021"
    with pytest.raises(ValueError, match="one of"):
        paper_of("xx.q")
    with pytest.raises(ValueError, match="style"):
        ClaimsView([c], "wide")
    with pytest.raises(ValueError, match="paper"):
        claims_view(paper="nope", claims=[c])
    assert len(claims_view(paper="aistats2024", kinds="finding", claims=[c])) == 1
    assert len(claims_view(paper="aistats2024", kinds="paper", claims=[c])) == 0
    assert set(PAPERS) == {"icml2021", "followup2024", "aistats2024"}
