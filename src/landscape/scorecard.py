"""The reproduction scorecard (the claims live in their topics, `landscape.topics.<topic>.claims`). A claim has an
id, a kind, the paper's statement and value with its source, our value from stored results, the criterion, a
status (STATUSES) and a one-line reason: the deciding number and the condition it holds under.

Statuses: "reproduced" — the criterion holds; "partly" — part of it holds, or it holds only under a condition the
paper does not state (the book's reconstruction of a model, one initialization); "inconclusive" — the interval holds
both no effect and the smallest effect that would count as the paper's (the reason says how many runs would
decide); "not reproduced" — the data could have shown the paper's effect and did not; "baseline invalid" — the
baseline of the comparison did not learn, so the comparison says nothing; "not testable" — no data here.

Kinds: "paper" — a statement of one of the papers, whose reference quotes the paper or the authors' code (never our
own check); "control" — a check added so that a paper claim can be read; "finding" — what the book found that the
papers do not say. The headline verdict counts paper claims only.

Claims are computed only from stored results (never by training); a missing result makes the claim
"not testable" with the command that produces it; a damaged one (unreadable, edited) makes it "not testable" with
`problem` set, and the command line exits non-zero.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Callable

from .runner import load
from .store import CorruptResultError, MissingResultError, Result

STATUSES = ("reproduced", "partly", "inconclusive", "not reproduced", "baseline invalid", "not testable")
REASON_LENGTH = 160  # characters: a reason fits on one line of a table
KINDS = ("paper", "control", "finding")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed: kind must be one of {', '.join(KINDS)}")
    return kind


@dataclass
class Claim:
    id: str
    chapter: str
    paper: str  # the paper's statement and value
    source: str  # figure / section
    criterion: str
    ours: str = ""  # our value, in words and numbers
    status: str = "not testable"
    values: dict = field(default_factory=dict)  # the numbers behind `ours`
    problem: str = ""  # set when a stored result the claim reads is damaged
    kind: str = "paper"  # paper / control / finding (KINDS)
    title: str = ""  # one-line headline
    reason: str = ""  # one line (≤ REASON_LENGTH characters): the deciding number and its condition

    def __post_init__(self):
        check_kind(self.kind)
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} is not allowed: status must be one of {', '.join(STATUSES)}")
        if len(self.reason) > REASON_LENGTH or "\n" in self.reason:
            raise ValueError(f"reason={self.reason!r} is not allowed: a reason is one line of at most "
                             f"{REASON_LENGTH} characters")

    def as_dict(self) -> dict:
        """The claim as plain Python values (numpy scalars and arrays converted), ready for JSON."""
        return _plain(asdict(self))


def _plain(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    chapter: str
    paper: str
    source: str
    criterion: str
    needs: tuple  # experiment names whose full results the claim reads
    evaluate: Callable[..., tuple]  # (*results) -> (status, ours, values, reason)
    kind: str = "paper"
    title: str = ""

    def __post_init__(self):
        check_kind(self.kind)


CLAIMS: dict[str, ClaimSpec] = {}


def verdict(reproduced: bool, partly: bool = False) -> str:
    """The status ladder every claim uses: "reproduced" when its full criterion holds, else "partly" when its partial
    one does, else "not reproduced"."""
    return "reproduced" if reproduced else "partly" if partly else "not reproduced"


def conjunction(statuses) -> str:
    """The status of a claim made of several parts (e.g. "trains small nets better and makes large ones generalize
    better"): every part reproduced → reproduced; some part reproduced (or partly) → partly; otherwise a part not
    reproduced refutes the whole → not reproduced; else inconclusive (a part not testable counts as inconclusive)."""
    statuses = list(statuses)
    if statuses and all(s == "reproduced" for s in statuses):
        return "reproduced"
    if any(s in ("reproduced", "partly") for s in statuses):
        return "partly"
    if "not reproduced" in statuses:
        return "not reproduced"
    if statuses and all(s == "baseline invalid" for s in statuses):
        return "baseline invalid"
    return "inconclusive"


def claim(id: str, *, kind: str, title: str, chapter: str, paper: str, source: str, criterion: str, needs: tuple):
    """Register `evaluate(*results) -> (status, ours, values, reason)` as the claim `id` of this `kind` (one of KINDS);
    `title` is the one-line headline the verdict tables show."""
    check_kind(kind)

    def decorate(fn):
        CLAIMS[id] = ClaimSpec(id, chapter, paper, source, criterion, tuple(needs), fn, kind, title)
        return fn

    return decorate


# The topics whose `claims` module registers claims (`landscape.topics.<topic>.claims`), in the scorecard's order;
# imported by name so that the scorecard stays below the topics in the layers.
CLAIM_TOPICS = ("spiral", "cycle", "capacity", "amp_period", "image", "size_lr", "followup_mse", "lrd_toy",
                "lrd_network")  # the book's order


def _load_all() -> None:
    for topic in CLAIM_TOPICS:
        importlib.import_module(f"landscape.topics.{topic}.claims")  # registers on import


def evaluate_claim(spec: ClaimSpec, results: dict[str, Result] | None = None) -> Claim:
    base = Claim(spec.id, spec.chapter, spec.paper, spec.source, spec.criterion, kind=spec.kind, title=spec.title)
    loaded = []
    for name in spec.needs:
        try:
            loaded.append(results[name] if results and name in results else load(name, "full"))
        except MissingResultError:
            base.ours = f"no stored result for {name} (make it with: python -m landscape run {name})"
            base.reason = f"no stored result for {name}"[:REASON_LENGTH]
            return base
        except CorruptResultError as exc:
            base.ours = base.problem = f"stored result damaged: {exc}"
            base.reason = f"the stored result of {name} is damaged"[:REASON_LENGTH]
            return base
    out = spec.evaluate(*loaded)
    status, ours, values, reason = out if len(out) == 4 else (*out, "")
    return Claim(spec.id, spec.chapter, spec.paper, spec.source, spec.criterion, ours, status, values, kind=spec.kind,
                 title=spec.title, reason=reason)


def evaluate_claims(chapter: str | None = None) -> list[Claim]:
    _load_all()
    cache: dict[str, Result] = {}
    out = []
    for spec in CLAIMS.values():
        if chapter is not None and spec.chapter != chapter:
            continue
        for name in spec.needs:
            if name not in cache:
                try:
                    cache[name] = load(name, "full")
                except (MissingResultError, CorruptResultError):
                    pass  # evaluate_claim reports it
        out.append(evaluate_claim(spec, cache))
    return out


# ------------------------------------------------------------------------------------------------ the book's views
# Which paper a claim belongs to (by its id's prefix, most specific first) and the page of each chapter.
PAPERS = {
    "icml2021": ("dl.", "Dynamical loss functions — Ruiz-Garcia, Zhang, Schoenholz & Liu, ICML 2021"),
    "followup2024": ("dl.followup.", "Dynamical loss functions, the follow-up — Lavin & Ruiz-Garcia, 2024"),
    "aistats2024": ("lrd.", "Late learning-rate decay — Ren, Ma & Ying, AISTATS 2024"),
}
CHAPTER_PAGES = {"lrd_toy": "lrd_decay"}  # a claim's chapter → the book page that shows it (default: the same name)
KIND_HEADINGS = {"paper": "Claims of the paper", "control": "Controls (added so that a paper claim can be read)",
                 "finding": "Findings of the book (not in the papers)"}


@dataclass(frozen=True)
class UntestedClaim:
    """A claim of one of the papers that the book does not score, and why."""

    paper: str  # a key of PAPERS
    statement: str
    source: str
    reason: str


UNTESTED = (
    UntestedClaim("icml2021", "The CIFAR-10 maps: Myrtle5's training and validation accuracy over (A, T) at its "
                  "under- and overparameterized widths, with their values",
                  "ICML 2021 Sec. 4 (CIFAR-10 figures)",
                  "CIFAR-10 cannot be downloaded on the machines that build the book, and the widths, rates, epochs "
                  "and grids are not known to us; the book tests the same statements on the spiral (`amp_period`, "
                  "`capacity`) and on MNIST-1D (`image`), and keeps a CIFAR-10 preset for readers with the data"),
    UntestedClaim("followup2024", "The follow-up's own numbers: its data set, network sizes, learning rates, the "
                  "DMSE formulas and the validation accuracies they reach",
                  "Lavin & Ruiz-Garcia 2024, figures",
                  "not known to us (only the abstract is); the book tests its statements under its own reading of "
                  "the losses (DMSE1, DMSE2) and says so"),
    UntestedClaim("aistats2024", "The network experiment at the paper's scale: VGG on 5,000 CIFAR-10 images, final "
                  "test loss 0.1955 (decay at 200) → 0.183 (900–1,000)",
                  "authors' notebooks; paper Sec. 5",
                  "CIFAR-10 is not available here and the main path alone is ≈ 32 h on this CPU; the book tests the "
                  "same statistic on MNIST-1D (`lrd_network`) and keeps a CIFAR-10 experiment for a GPU"),
    UntestedClaim("aistats2024", "CIFAR-100 ResNet-18: decaying at epoch 160 instead of 90 raises test accuracy from "
                  "72.3 % to 74.7 %",
                  "authors' repository",
                  "CIFAR-100 is not available here and the run needs a GPU; not in the book"),
    UntestedClaim("aistats2024", "The continuous-time analysis of SGD on the nonlinear model (three phases; the "
                  "long large-LR phase converges to the minimum-norm solution)",
                  "paper Sec. 4 (theorems)",
                  "a mathematical result, not an experiment: the book checks its consequences by simulation on the "
                  "model (`lrd_model`, `lrd_decay`), not the proof"),
)


def untested_markdown(paper: str | None = None) -> str:
    """The papers' claims the book does not score, as a Markdown table (statement, source, why not)."""
    rows = [u for u in UNTESTED if paper is None or u.paper == paper]
    lines = ["| claim | source | why the book does not test it |", "|---|---|---|"]
    lines += [f"| {_md(u.statement)} | {_md(u.source)} | {_md(u.reason)} |" for u in rows]
    return "\n".join(lines)


def paper_of(claim_id: str) -> str:
    """The key in PAPERS of the paper a claim belongs to (the longest matching id prefix)."""
    matches = [(len(prefix), key) for key, (prefix, _) in PAPERS.items() if claim_id.startswith(prefix)]
    if not matches:
        raise ValueError(f"claim {claim_id!r} belongs to no paper: its id must start with one of "
                         f"{', '.join(prefix for prefix, _ in PAPERS.values())}")
    return max(matches)[1]


def anchor(claim_id: str) -> str:
    """The HTML id of a claim's row in its chapter's table ("claim-dl-spiral-ce-fails")."""
    return "claim-" + claim_id.replace(".", "-").replace("_", "-")


def claim_link(c: Claim) -> str:
    """The claim's row in its chapter, relative to a page of the book's `book/` folder."""
    return f"{CHAPTER_PAGES.get(c.chapter, c.chapter)}.html#{anchor(c.id)}"


def status_counts(claims: list[Claim]) -> dict[str, int]:
    return {s: sum(c.status == s for c in claims) for s in STATUSES}


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


class ClaimsView:
    """Claims as the book shows them: an HTML table (status first, as a coloured badge; text that wraps, so that
    no table needs sideways scrolling) and, for text comparisons and plain viewers, the same rows as Markdown.

    style "chapter": every claim of a chapter with its statement, source, our value, and the criterion folded; each
    row carries the claim's anchor. "verdict": one line per claim, its title linked to the chapter's row.
    "scorecard": like "verdict", with the statement, source, our value and criterion folded under each line."""

    STYLES = ("chapter", "verdict", "scorecard")

    def __init__(self, claims: list[Claim], style: str = "chapter"):
        if style not in self.STYLES:
            raise ValueError(f"style={style!r} is not allowed: style must be one of {', '.join(self.STYLES)}")
        self.claims, self.style = list(claims), style

    def __len__(self):
        return len(self.claims)

    def __repr__(self) -> str:  # plain text: one line per claim, the same on every machine
        return "\n".join(f"{c.status}: {c.id} — {c.reason}" for c in self.claims) or "(no claims)"

    # ---- HTML
    @staticmethod
    def badge(status: str) -> str:
        return f'<span class="claim-status status-{status.replace(" ", "-")}">{status}</span>'

    @staticmethod
    def _kind_tag(c: Claim) -> str:
        return "" if c.kind == "paper" else f' <span class="claim-kind">{c.kind}</span>'

    @staticmethod
    def _details(c: Claim, summary: str) -> str:
        from html import escape

        statement = "The paper" if c.kind == "paper" else "Statement"
        return (f'<details class="claim-details"><summary>{summary}</summary><dl>'
                f"<dt>{statement}</dt><dd>{escape(c.paper)} <em>({escape(c.source)})</em></dd>"
                f"<dt>Ours</dt><dd>{escape(c.ours)}</dd>"
                f"<dt>Criterion</dt><dd>{escape(c.criterion)}</dd>"
                f"<dt>Claim id</dt><dd><code>{c.id}</code></dd></dl></details>")

    def _repr_html_(self) -> str:
        from html import escape

        rows = []
        for c in self.claims:
            if self.style == "chapter":
                rows.append(
                    f'<tr id="{anchor(c.id)}"><td class="claim-status-cell">{self.badge(c.status)}</td>'
                    f"<td><strong>{escape(c.title)}</strong>{self._kind_tag(c)}<br>{escape(c.paper)} "
                    f'<span class="claim-source">({escape(c.source)})</span><br><code class="claim-id">{c.id}</code>'
                    f'</td><td><span class="claim-reason">{escape(c.reason)}</span>'
                    f'<details class="claim-details"><summary>our numbers and the criterion</summary>'
                    f"{escape(c.ours)}<br><em>Criterion:</em> {escape(c.criterion)}</details>"
                    "</td></tr>")
            else:
                link = f'<a class="claim-link" href="{claim_link(c)}">{escape(c.title)}</a>{self._kind_tag(c)}'
                cell = (link + f'<br><span class="claim-reason">{escape(c.reason)}</span>'
                        + ("" if self.style == "verdict" else self._details(c, "details")))
                rows.append(f'<tr><td class="claim-status-cell">{self.badge(c.status)}</td><td>{cell}</td></tr>')
        head = ("<tr><th>status</th><th>claim (paper, source)</th><th>why (our numbers folded)</th></tr>"
                if self.style == "chapter" else "<tr><th>status</th><th>claim and why</th></tr>")
        return (f'<table class="claims claims-{self.style}"><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
                "</table>")

    # ---- Markdown (what nbval compares; also shown by viewers without HTML)
    def _repr_markdown_(self) -> str:
        if self.style == "verdict":
            lines = ["| status | claim | why | page |", "|---|---|---|---|"]
            lines += [f"| {c.status} | {_md(c.title)} | {_md(c.reason)} | {claim_link(c)} |" for c in self.claims]
        else:
            lines = ["| status | claim | kind | title | why | paper (source) | ours | criterion |",
                     "|---|---|---|---|---|---|---|---|"]
            lines += [f"| {c.status} | {c.id} | {c.kind} | {_md(c.title)} | {_md(c.reason)} | {_md(c.paper)} "
                      f"({_md(c.source)}) | {_md(c.ours)} | {_md(c.criterion)} |" for c in self.claims]
        return "\n".join(lines)


def claims_view(chapter: str | None = None, *, paper: str | None = None, kinds=KINDS, style: str = "chapter",
                claims: list[Claim] | None = None) -> ClaimsView:
    """The claims of one chapter (or all), of one paper (a key of PAPERS) and of the given kinds, as a ClaimsView;
    `claims` reuses claims already evaluated."""
    if paper is not None and paper not in PAPERS:
        raise ValueError(f"paper={paper!r} is not allowed: paper must be one of {', '.join(PAPERS)}")
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for k in kinds:
        check_kind(k)
    claims = evaluate_claims(chapter) if claims is None else claims
    chosen = [c for c in claims if (chapter is None or c.chapter == chapter) and c.kind in kinds
              and (paper is None or paper_of(c.id) == paper)]
    return ClaimsView(chosen, style)
