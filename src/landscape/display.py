"""Numbers as the notebooks show them: glued floats at a fixed precision, and bounds for rounding-level quantities.

nbval compares a notebook's stored outputs with a fresh run as text, and a float's last digits differ between CPUs
(other BLAS/ATen kernels). Every float the book glues is therefore stored with SIGNIFICANT significant digits:
coarse enough that rounding noise (≤ 1e-13 relative) does not show, fine enough that every relative change of
1.0001e-4 or more, so every change of 1e-3, changes the text (docs/DESIGN.md, "Notebook check").
"""

from __future__ import annotations

import math

import numpy as np

SIGNIFICANT = 5


def rounded(value, digits: int = SIGNIFICANT):
    """`value` with every float (numpy floats included, inside lists and tuples too) rounded to `digits`
    significant digits; ints, bools, strings and non-finite floats as they are."""
    if isinstance(value, (list, tuple)):
        return type(value)(rounded(v, digits) for v in value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return float(f"{float(value):.{digits - 1}e}")
    return value


def glue(name: str, value, display: bool = True) -> None:
    """myst_nb's `glue`, with floats rounded to SIGNIFICANT digits (what the notebook stores and nbval compares).
    The prose formats the glued float for readers, e.g. {glue:text}`name:.3f`."""
    from myst_nb import glue as myst_glue

    myst_glue(name, rounded(value), display=display)


def below(value: float, limit: float) -> str:
    """The bound `limit` as text ("1e-13"), after checking |value| < limit. For quantities at float rounding level
    (a relative error of 1e-16, a loss of 1e-30): their digits are rounding noise that differs between CPUs, so the
    book states the bound they stay under. A value at or above the bound is an error: the text would be false."""
    if not abs(value) < limit:
        raise ValueError(f"{value!r} is not below {limit:g}: the bound the book states for it does not hold")
    mantissa, exponent = f"{limit:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def markdown_table(frame, **kwargs) -> str:
    """A DataFrame as a Markdown table whose cells and headers may hold a literal "|" (e.g. "|ΔF| growth"):
    each is escaped so that it cannot end its cell (an unescaped one turns the whole table into a paragraph)."""
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    frame = frame.rename(columns=escape)
    frame = frame.apply(lambda column: column.map(lambda v: escape(v) if isinstance(v, str) else v))
    return frame.to_markdown(index=False, **kwargs)


DOWNLOADS = "../results"  # the chapters are in book/; the built book serves the results folder beside it


class RerunBox:
    """The "Rerun this chapter" box (a MyST admonition in the notebook's Markdown output): the commands that
    recompute the chapter's stored results, the time each took and where (from its provenance), GPU times where
    measured, and what to change for a bigger run."""

    def __init__(self, results, bigger: str, gpu_seconds: dict | None = None):
        self.results, self.bigger, self.gpu_seconds = list(results), bigger, dict(gpu_seconds or {})

    def _lines(self) -> list[str]:
        lines = [":::{admonition} Rerun this chapter", ":class: tip rerun", "",
                 "From the repository root (after `make install`), each stored result of this chapter is recomputed "
                 "by the command below (add `--device cuda` on a GPU); the notebook then shows the new result:", "",
                 "```bash"]
        for r in self.results:
            preset = r.provenance.get("preset") or "full"
            lines.append(f".venv/bin/python -m landscape run {r.experiment} --preset {preset} --force")
        lines += ["```", ""]
        times = []
        for r in self.results:
            p = r.provenance
            label = f"{r.experiment} {p.get('preset') or 'full'}" if [q.experiment for q in self.results].count(
                r.experiment) > 1 else r.experiment  # an experiment read at two presets is named with each
            gpu = self.gpu_seconds.get(r.experiment)
            where = p["device"] if p.get("device_name") in (None, "", p["device"]) else f"{p['device']} ({p['device_name']})"
            times.append(f"`{label}` {compute_seconds(r):,.0f} s on {where}"
                         + (f", {gpu:,.0f} s on a GPU" if gpu is not None else ""))
        total = sum(compute_seconds(r) for r in self.results)
        lines.append("**Time** (single-core compute, from the results' provenance): " + "; ".join(times)
                     + (f"; {total / 60:,.1f} min in all." if len(self.results) > 1 else "."))
        if not self.gpu_seconds:
            lines.append("GPU times: not measured for this chapter.")
        lines += ["", self.downloads()]
        lines += ["", f"**Bigger run.** {self.bigger}", ":::"]
        return lines

    def downloads(self) -> str:
        """Links to the stored result files and the CSV of the chapter's claim numbers, as the built book serves them
        (`results/` beside the chapters' folder: _ext/bookweb.py copies them there)."""
        # raw HTML links: the files are served by the built book (not sources MyST would resolve at build time)
        link = lambda path, text: f'<a href="{DOWNLOADS}/{path}" download><code>{text}</code></a>'  # noqa: E731
        files = [link(f"{r.experiment}/{r.source.name}", r.source.name) + f" ({r.experiment})"
                 for r in self.results if getattr(r, "source", None) is not None]
        chapters = sorted({r.chapter for r in self.results if getattr(r, "chapter", None)})
        csvs = [link(f"claims/{c}.csv", f"{c}.csv") for c in chapters]
        return ("**Download** the stored results this chapter reads: " + ", ".join(files or ["none stored"])
                + (f"; the numbers its claims use: {', '.join(csvs)}" if csvs else "")
                + " (results read with `landscape.store.load_result`).")

    def _repr_markdown_(self) -> str:
        return "\n".join(self._lines())

    def __repr__(self) -> str:
        return f"Rerun this chapter: {', '.join(r.experiment for r in self.results)}"


def rerun_box(*results, bigger: str, gpu_seconds: dict | None = None) -> RerunBox:
    """The chapter's "Rerun this chapter" box for its stored results (see RerunBox)."""
    if not results:
        raise TypeError("rerun_box() needs at least one result")
    return RerunBox(results, bigger, gpu_seconds)


def compute_seconds(result) -> float:
    """The single-core compute a stored result took: the sum of its units' CPU times where it ran as units (their
    wall times overlap, and a shared run's wall time counts every experiment it ran beside), else its wall time."""
    units = result.provenance.get("units") or {}
    return float(sum(units["cpu_time_s"])) if "cpu_time_s" in units else float(result.provenance["wall_time_s"])
