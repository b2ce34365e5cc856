"""The README's time table agrees with its sources (docs/timings.json and the results' provenance), and the check can
fail."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("timings", ROOT / "tools" / "timings.py")
timings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timings)


def test_the_readme_table_is_the_one_its_sources_give():
    assert timings.readme_block(timings.README.read_text()) == timings.block(), \
        "README.md's time table is stale: run `python tools/timings.py --write`"


def test_a_changed_number_is_caught():
    text = timings.README.read_text().replace(timings.block(), timings.block().replace(" min", " minutes", 1))
    assert timings.readme_block(text) != timings.block()


def test_a_step_outside_the_list_is_a_short_error(capsys):
    with pytest.raises(SystemExit):
        timings.main(["--record", "coffee", "12"])
    assert "STEP='coffee' is not allowed: STEP must be one of install, book, test" in capsys.readouterr().err
