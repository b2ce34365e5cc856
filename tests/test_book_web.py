"""The book's web-page extension (_ext/bookweb.py) on a one-page book built with the book's own _config.yml:
MathJax from the build itself (no CDN), each inline script once, and the repository buttons from the one setting —
none when it is unset, all four (repository, issues, Binder, Colab) when it is set."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).with_name("jupyter-book")


def build_mini_book(tmp_path: Path, url: str) -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = url
    config["sphinx"]["local_extensions"] = {"bookweb": str(ROOT / "_ext")}
    config.pop("bibtex_bibfiles", None)  # the one-page book cites nothing: no bibtex extension, no bibtex settings
    for key in [k for k in config["sphinx"]["config"] if k.startswith("bibtex_")]:
        config["sphinx"]["config"].pop(key)
    config["execute"]["execute_notebooks"] = "off"
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A page\n\nSome maths: $\\lambda_{\\max} < 2/\\eta$."),
        nbformat.v4.new_code_cell("1 + 1")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, book / "page.ipynb")
    subprocess.run([str(JB), "build", str(book), "-W", "--quiet"], check=True, capture_output=True, text=True)
    html = (book / "_build" / "html" / "page.html").read_text()
    assert (book / "_build" / "html" / "_static" / "mathjax" / "tex-chtml.js").is_file()
    return html


@pytest.mark.smoke
@pytest.mark.skipif(not JB.exists(), reason="jupyter-book is not installed in this environment")
@pytest.mark.parametrize("url", ["", "https://github.com/example-owner/example-book"])
def test_mini_book_has_local_mathjax_single_scripts_and_buttons_from_one_setting(tmp_path, url):
    html = build_mini_book(tmp_path, url)
    scripts = re.findall(r"<script[^>]*>.*?</script>", html, flags=re.S)
    assert len(scripts) == len(set(scripts)), "an inline script is included twice"
    assert html.count("const THEBE_JS_URL") <= 1
    assert "cdn.jsdelivr.net" not in html and 'src="_static/mathjax/tex-chtml.js"' in html
    links = [
        "https://github.com/example-owner/example-book",  # repository button
        "https://github.com/example-owner/example-book/issues",
        "mybinder.org",
        "colab.research.google.com",
    ]
    if url:
        for link in links:
            assert link in html, link
    else:
        assert "executablebooks/jupyter-book" not in html
        for link in links[2:]:
            assert link not in html, link
        assert "/issues" not in html
