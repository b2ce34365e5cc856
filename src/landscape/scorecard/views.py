"""How the book shows the claims: `claims_view` → `ClaimsView`, an HTML table (a chapter's claims, or one verdict line
per claim linked to its chapter's row) with the same rows as Markdown, each row's anchor and link, and the papers'
untested claims as a Markdown table. The claims themselves: `landscape.scorecard.claims`."""

from __future__ import annotations

from .claims import KINDS, Claim, check_kind, evaluate_claims
from .papers import PAPERS, UNTESTED, paper_of

CHAPTER_PAGES = {"lrd_toy": "lrd_decay"}  # a claim's chapter → the book page that shows it (default: the same name)


def untested_markdown(paper: str | None = None) -> str:
    """The papers' claims the book does not score, as a Markdown table (statement, source, why not)."""
    rows = [u for u in UNTESTED if paper is None or u.paper == paper]
    lines = ["| claim | source | why the book does not test it |", "|---|---|---|"]
    lines += [f"| {_md(u.statement)} | {_md(u.source)} | {_md(u.reason)} |" for u in rows]
    return "\n".join(lines)


def anchor(claim_id: str) -> str:
    """The HTML id of a claim's row in its chapter's table ("claim-dl-spiral-ce-fails")."""
    return "claim-" + claim_id.replace(".", "-").replace("_", "-")


def claim_link(c: Claim) -> str:
    """The claim's row in its chapter, relative to a page of the book's `book/` folder."""
    return f"{CHAPTER_PAGES.get(c.chapter, c.chapter)}.html#{anchor(c.id)}"


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
                    f'<td><strong title="claim id: {c.id}">{escape(c.title)}</strong>{self._kind_tag(c)}<br>'
                    f'{escape(c.paper)} <span class="claim-source">({escape(c.source)})</span>'
                    f'</td><td><span class="claim-reason">{escape(c.reason)}</span>'
                    f'<details class="claim-details"><summary>our numbers and the criterion</summary>'
                    f"{escape(c.ours)}<br><em>Criterion:</em> {escape(c.criterion)}<br><em>Claim id:</em> "
                    f'<code class="claim-id">{c.id}</code></details>'
                    "</td></tr>")
            else:
                link = (f'<a class="claim-link" href="{claim_link(c)}" title="claim id: {c.id}">{escape(c.title)}</a>'
                        + self._kind_tag(c))
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
            lines = ["| status | title | kind | why | paper (source) | ours | criterion | claim id |",
                     "|---|---|---|---|---|---|---|---|"]
            lines += [f"| {c.status} | {_md(c.title)} | {c.kind} | {_md(c.reason)} | {_md(c.paper)} "
                      f"({_md(c.source)}) | {_md(c.ours)} | {_md(c.criterion)} | {c.id} |" for c in self.claims]
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
