"""A download per chapter: the rerun box links the stored result files and the chapter's claim CSV, and the book's
extension serves exactly those files (every link target written, every claim number in its chapter's CSV)."""

import csv
import re
import sys
from pathlib import Path

from landscape.display import rerun_box
from landscape.runner import load
from landscape.scorecard import evaluate_claims

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_ext"))
import bookweb  # noqa: E402


def test_nested_values_flatten_to_dotted_names():
    assert list(bookweb.flat_values({"a": 1, "b": {"c": [2, 3]}, "d": None})) == [
        ("a", 1), ("b.c.0", 2), ("b.c.1", 3), ("d", None)]


def test_every_link_of_a_rerun_box_is_a_file_the_extension_serves(tmp_path):
    result = load("cycle", "full")
    text = rerun_box(result, bigger="-")._repr_markdown_()
    links = re.findall(r'href="\.\./results/([^"]+)"', text)
    assert links == [f"cycle/{result.source.name}", "claims/cycle.csv"]
    bookweb.write_downloads(tmp_path)
    for link in links:
        assert (tmp_path / "results" / link).is_file(), link
    with open(tmp_path / "results" / "claims" / "cycle.csv") as f:
        rows = list(csv.DictReader(f))
    ids = {c.id for c in evaluate_claims() if c.chapter == "cycle"}
    assert {r["claim"] for r in rows} == ids and all(r["status"] for r in rows)


def test_a_result_not_read_from_a_file_has_no_link():
    import dataclasses
    result = dataclasses.replace(load("cycle", "full"), source=None)
    assert "none stored" in rerun_box(result, bigger="-").downloads()
