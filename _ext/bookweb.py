"""The book as a web page: local MathJax, one copy of each inline script, the book's CSS, and the repository buttons
from one setting (`repository: url:` in `_config.yml`).

- **MathJax offline.** The HTML loads MathJax 3 from `_static/mathjax/` (copied at build time from the pinned
  `django-static-mathjax` wheel, which ships MathJax's `es5` build), never from a CDN.
- **One copy of each inline script.** sphinx-thebe and sphinx-togglebutton register their inline configuration
  scripts twice under Jupyter Book 1.x; the second `const THEBE_JS_URL` is a console error on every page.
- **No console error on a first visit**: the theme's colour mode defaults to "auto".
- **Downloads.** The stored results (`results/<experiment>/*.npz`) are served from `results/` beside the chapters,
  with `results/claims/<chapter>.csv`: every number each chapter's claims use (the chapters' rerun boxes link them).
- **Buttons.** With `repository: url:` set, the pages get repository, issues, Binder and Colab buttons for that
  repository; unset (or Jupyter Book's default URL), none of them, so no link points anywhere wrong.
"""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

HERE = Path(__file__).parent
JUPYTER_BOOK_DEFAULT_URL = "https://github.com/executablebooks/jupyter-book"
MATHJAX_PATH = "mathjax/tex-chtml.js"  # relative to _static
FIRST_VISIT_MODE = "if (!document.documentElement.dataset.mode) { document.documentElement.dataset.mode = 'auto'; }"
BINDER_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"


def mathjax_es5() -> Path:
    """MathJax's `es5` folder inside the installed `django-static-mathjax` package (import name `mathjax`)."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is not installed: pip install -r requirements.txt (django-static-mathjax)")
    es5 = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise RuntimeError(f"MathJax's tex-chtml.js is missing under {es5}")
    return es5


def repository_url(theme_options: dict) -> str:
    """The book's repository URL, or "" when `_config.yml` does not set one."""
    url = (theme_options.get("repository_url") or "").strip().rstrip("/")
    return "" if url in ("", JUPYTER_BOOK_DEFAULT_URL) else url


def configure_buttons(theme_options: dict) -> dict:
    """Repository, issues, Binder and Colab buttons when a repository URL is set; none otherwise."""
    url = repository_url(theme_options)
    launch = dict(theme_options.get("launch_buttons") or {})
    theme_options["repository_url"] = url
    theme_options["use_repository_button"] = bool(url)
    theme_options["use_issues_button"] = bool(url)
    theme_options["use_edit_page_button"] = False
    launch["binderhub_url"] = BINDER_URL if url else ""
    launch["colab_url"] = COLAB_URL if url else ""
    launch["thebe"] = False
    theme_options["launch_buttons"] = launch
    return theme_options


def _config_inited(app, config):
    config.html_theme_options = configure_buttons(dict(config.html_theme_options or {}))
    config.mathjax_path = MATHJAX_PATH
    config.html_favicon = str(HERE / "static" / "favicon.svg")  # no request for /favicon.ico (a 404 in the console)
    config.html_static_path = list(config.html_static_path) + [str(HERE / "static")]


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # the same inline script is registered once with filename None and once with "": compare by content
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def _copy_mathjax(app, exception):
    if exception is None and app.builder.format == "html":
        shutil.copytree(mathjax_es5(), Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def flat_values(values, prefix: str = ""):
    """(name, value) pairs of a claim's nested values: dict keys and list positions joined by dots."""
    if isinstance(values, dict):
        for key, value in values.items():
            yield from flat_values(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(values, (list, tuple)):
        for i, value in enumerate(values):
            yield from flat_values(value, f"{prefix}.{i}")
    else:
        yield prefix, values


def write_claim_csvs(folder: Path) -> None:
    """One CSV per chapter of every number its claims use (claim, kind, status, quantity, value)."""
    from landscape.scorecard import evaluate_claims

    by_chapter: dict[str, list] = {}
    for claim in evaluate_claims():
        by_chapter.setdefault(claim.chapter, []).append(claim.as_dict())
    folder.mkdir(parents=True, exist_ok=True)
    for chapter, claims in by_chapter.items():
        with open(folder / f"{chapter}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["claim", "kind", "status", "quantity", "value"])
            for c in claims:
                for name, value in flat_values(c.get("values") or {}):
                    writer.writerow([c["id"], c["kind"], c["status"], name, value])


def write_downloads(outdir: Path) -> None:
    """Copy every stored result into `outdir/results/` and write one CSV per chapter of its claims' numbers there."""
    from landscape.store import results_root

    target = Path(outdir) / "results"
    for path in sorted(results_root().glob("*/*.npz")):
        if path.is_file() and not path.is_symlink():
            (target / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.parent.name / path.name)
    write_claim_csvs(target / "claims")


def _claim_csvs_for_the_build(app):
    # The chapters' download links are resolved by MyST against the sources: the CSVs must exist before the build
    # reads them (results/claims/, ignored by git); build-finished then serves every file under results/.
    from landscape.store import results_root

    if app.builder.format == "html":
        write_claim_csvs(results_root() / "claims")


def _write_downloads(app, exception):
    if exception is None and app.builder.format == "html":
        write_downloads(Path(app.outdir))


def setup(app):
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _copy_mathjax)
    app.connect("builder-inited", _claim_csvs_for_the_build)
    app.connect("build-finished", _write_downloads)
    app.add_css_file("book.css")
    # A first visit has no stored colour mode; the theme then logs "Got invalid theme mode" as a console error.
    app.add_js_file(None, body=FIRST_VISIT_MODE, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
