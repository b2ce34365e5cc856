"""The reproduction scorecard: the claims and their evaluation (`claims`), the papers they belong to and the claims
the book does not test (`papers`), and how the book shows them (`views`). The names the topics and the chapters use
are importable from here (`from landscape.scorecard import claim, claims_view`)."""

from .claims import (CLAIM_TOPICS, CLAIMS, KINDS, REASON_LENGTH, STATUSES, Claim, ClaimSpec, check_kind, claim,
                     conjunction, evaluate_claim, evaluate_claims, status_counts, verdict)
from .papers import PAPERS, UNTESTED, UntestedClaim, paper_of
from .views import CHAPTER_PAGES, ClaimsView, anchor, claim_link, claims_view, untested_markdown

__all__ = ["CHAPTER_PAGES", "CLAIM_TOPICS", "CLAIMS", "KINDS", "PAPERS", "REASON_LENGTH", "STATUSES", "UNTESTED",
           "Claim", "ClaimSpec", "ClaimsView", "UntestedClaim", "anchor", "check_kind", "claim", "claim_link",
           "claims_view", "conjunction", "evaluate_claim", "evaluate_claims", "paper_of", "status_counts",
           "untested_markdown", "verdict"]
