"""Plumbing out of sight: in every chapter, a code cell a reader sees is its run call (`load_or_run`) or a figure call;
every other code cell is hidden or removed by a tag (the library chapter, a tutorial whose code is the content,
excepted)."""

import json
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
HIDING = {"hide-input", "hide-cell", "remove-input", "remove-cell"}
TUTORIALS = {"library.ipynb"}


def visible_plumbing(notebook: dict) -> list[str]:
    """The visible code cells that are neither a run call nor a figure call (their first line)."""
    out = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or HIDING & set(cell.get("metadata", {}).get("tags", [])):
            continue
        source = "".join(cell["source"])
        if "load_or_run(" in source or "plot_" in source or source.lstrip().startswith("fig"):
            continue
        out.append(source.strip().splitlines()[0] if source.strip() else "(empty)")
    return out


@pytest.mark.parametrize("path", sorted(p for p in BOOK.glob("*.ipynb") if p.name not in TUTORIALS), ids=lambda p: p.name)
def test_only_run_and_figure_calls_are_visible(path):
    assert visible_plumbing(json.loads(path.read_text())) == []


def test_the_check_sees_a_visible_table_cell():
    cell = {"cell_type": "code", "metadata": {}, "source": ["Markdown(markdown_table(frame))"]}
    assert visible_plumbing({"cells": [cell]}) == ["Markdown(markdown_table(frame))"]
    cell["metadata"]["tags"] = ["hide-input"]
    assert visible_plumbing({"cells": [cell]}) == []
