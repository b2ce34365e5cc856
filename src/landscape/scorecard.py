"""The reproduction scorecard (the claims live in their topics, `landscape.topics.<topic>.claims`). A claim has an
id, the paper's statement and value with its source, our value from stored results, the criterion, and a status:
reproduced / partly / not reproduced / not testable.

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

STATUSES = ("reproduced", "partly", "not reproduced", "not testable")


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

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} is not allowed: status must be one of {', '.join(STATUSES)}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    chapter: str
    paper: str
    source: str
    criterion: str
    needs: tuple  # experiment names whose full results the claim reads
    evaluate: Callable[..., tuple[str, str, dict]]  # (*results) -> (status, ours, values)


CLAIMS: dict[str, ClaimSpec] = {}


def verdict(reproduced: bool, partly: bool = False) -> str:
    """The status ladder every claim uses: "reproduced" when its full criterion holds, else "partly" when its partial
    one does, else "not reproduced"."""
    return "reproduced" if reproduced else "partly" if partly else "not reproduced"


def claim(id: str, *, chapter: str, paper: str, source: str, criterion: str, needs: tuple):
    """Register `evaluate(*results) -> (status, ours, values)` as the claim `id`."""

    def decorate(fn):
        CLAIMS[id] = ClaimSpec(id, chapter, paper, source, criterion, tuple(needs), fn)
        return fn

    return decorate


# The topics whose `claims` module registers claims (`landscape.topics.<topic>.claims`), in the scorecard's order;
# imported by name so that the scorecard stays below the topics in the layers.
CLAIM_TOPICS = ("amp_period", "capacity", "cycle", "followup_mse", "image", "lrd_network", "lrd_toy", "size_lr",
                "spiral")


def _load_all() -> None:
    for topic in CLAIM_TOPICS:
        importlib.import_module(f"landscape.topics.{topic}.claims")  # registers on import


def evaluate_claim(spec: ClaimSpec, results: dict[str, Result] | None = None) -> Claim:
    base = Claim(spec.id, spec.chapter, spec.paper, spec.source, spec.criterion)
    loaded = []
    for name in spec.needs:
        try:
            loaded.append(results[name] if results and name in results else load(name, "full"))
        except MissingResultError:
            base.ours = f"no stored result for {name} (make it with: python -m landscape run {name})"
            return base
        except CorruptResultError as exc:
            base.ours = base.problem = f"stored result damaged: {exc}"
            return base
    status, ours, values = spec.evaluate(*loaded)
    return Claim(spec.id, spec.chapter, spec.paper, spec.source, spec.criterion, ours, status, values)


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


def claims_table(chapter: str | None = None):
    """The claims as a pandas DataFrame (for the chapters' tables)."""
    import pandas as pd

    rows = [{"claim": c.id, "paper (source)": f"{c.paper} ({c.source})", "ours": c.ours, "criterion": c.criterion,
             "status": c.status} for c in evaluate_claims(chapter)]
    return pd.DataFrame(rows, columns=["claim", "paper (source)", "ours", "criterion", "status"])


def claims_markdown(chapter: str | None = None) -> str:
    """The claims table as Markdown for a chapter (a literal "|" in a claim's text is escaped so that it cannot end
    its table cell)."""
    table = claims_table(chapter)
    return table.apply(lambda column: column.str.replace("|", "\\|", regex=False)).to_markdown(index=False)
