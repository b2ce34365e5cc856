"""The scorecard's claims (each lives in its topic, `landscape.topics.<topic>.claims`): what a claim is, the
registry the topics fill (`claim`), the status rules (`verdict`, `conjunction`) and the evaluation from stored
results (`evaluate_claims`). A claim has an id, a kind, the paper's statement and value with its source, our value
from stored results, the criterion, a status (STATUSES) and a one-line reason: the deciding number and the condition
it holds under. How the book shows them: `landscape.scorecard.views`.

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

from ..runner import load
from ..store import CorruptResultError, MissingResultError, Result

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


def status_counts(claims: list[Claim]) -> dict[str, int]:
    return {s: sum(c.status == s for c in claims) for s in STATUSES}
