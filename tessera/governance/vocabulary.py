"""Tessera's closed vocabularies: what a person can agree to, and what an answer or a review can say.

Purposes and modalities are closed sets on purpose. Anything outside them
(tracking, risk scoring, inferring race, sex or emotion, searching the web)
is out of Tessera's scope by design, so there is no value to ask for it with.

Decisions and review states are the strings the API answers with, the audit
trail records and the store keeps; each is written here once. They are
``StrEnum`` members, so each *is* its string: ``Decision.MATCH == "match"``,
and JSON, the database and the audit hash see exactly the plain value.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    VERIFY = "verify"
    """1:1: confirm that a person is the one enrolled under a given id."""
    DEDUPLICATE = "deduplicate"
    """1:N: check whether a person is already enrolled in the same gallery."""


class Modality(StrEnum):
    FACE = "face"
    FINGER = "finger"


class ConsentEvidence(StrEnum):
    """How a person signified their consent, kept with the consent record (a gallery chooses which it accepts)."""

    SIGNATURE = "signature"
    """A signature drawn on the screen: its image is sealed under the subject's key."""
    THUMBPRINT_MARK = "thumbprint_mark"
    """A photo of an ink thumbprint mark on paper (never a biometric capture): sealed under the subject's key."""
    SPOKEN_WITNESSED = "spoken_witnessed"
    """Spoken consent, witnessed by a second worker who signs in with their own key (its id is recorded)."""
    TYPED_NAME = "typed_name"
    """Only the name typed by the worker (``signed_by``): what every consent was before store revision 0009."""


IMAGE_EVIDENCE = frozenset({ConsentEvidence.SIGNATURE, ConsentEvidence.THUMBPRINT_MARK})
"""Evidence that is an image, sealed with the consent."""


class Decision(StrEnum):
    """The answer of a 1:1 verification, and of each comparison within one (``Verification.decision``)."""

    MATCH = "match"
    """The score is at or above the threshold for the configured false-match rate."""
    NO_MATCH = "no_match"
    """The score is below it."""
    INCONCLUSIVE = "inconclusive"
    """No answer: the capture was refused, there was nothing to compare with, or no calibration can say what
    the score means; ``reason`` says which."""


class ReviewStatus(StrEnum):
    """Where the two-person review of one 1:N candidate stands (``CaseCandidate.status``;
    :func:`tessera.governance.adjudication.candidate_status`)."""

    PENDING = "pending"
    """Fewer than two adjudicators have decided, and none disagree."""
    CONFIRMED = "confirmed"
    """Two adjudicators confirmed the candidate."""
    REJECTED = "rejected"
    """Two adjudicators rejected the candidate."""
    DISPUTED = "disputed"
    """One confirmed and one rejected: a third adjudicator decides."""
    VOID = "void"
    """The candidate's consent was withdrawn and their data erased before the review ended."""


UNSETTLED_REVIEWS = frozenset({ReviewStatus.PENDING, ReviewStatus.DISPUTED})
"""Review states still waiting for an adjudicator."""
SETTLED_REVIEWS = frozenset({ReviewStatus.CONFIRMED, ReviewStatus.REJECTED, ReviewStatus.VOID})
"""Review states that end a candidate's review; a case closes when all its candidates have one."""


class SearchStatus(StrEnum):
    """What the requester of a 1:N search is told (:func:`tessera.governance.adjudication.search_status`)."""

    NO_LIKELY_MATCH = "no_likely_match"
    """No candidate met the threshold, or reviewers rejected every one."""
    SENT_FOR_REVIEW = "sent_for_review"
    """Candidates wait for two trained reviewers; none is named to the requester."""
    CONFIRMED = "confirmed"
    """Two reviewers confirmed a candidate: that subject (only) is named."""


class CaseStatus(StrEnum):
    """Whether the review case a 1:N search opened is still open (``Search.status``)."""

    OPEN = "open"
    """At least one candidate is still to be reviewed."""
    CLOSED = "closed"
    """Every candidate's review is settled, or the search found none; the probe photo's key is destroyed."""


SEARCH_PURPOSES = frozenset({Purpose.DEDUPLICATE})
"""Purposes for which a 1:N search may be run."""

ENABLED_MODALITIES = frozenset({Modality.FACE})
"""Modalities this version can capture (fingers arrive with the contactless pipeline)."""


class SubjectStatus(StrEnum):
    """Whether a subject takes part in verification and search (``Subject.status``;
    :mod:`tessera.workflows.dedup`)."""

    ACTIVE = "active"
    """Enrolled: verified, searched and counted in the gallery size N."""
    PENDING_REVIEW = "pending_review"
    """The first capture resembled someone already enrolled: the templates are stored sealed but kept out of
    every index, the subject is neither verified nor searched nor counted, and takes no further capture, until
    two adjudicators decide (rejected: enrolled; confirmed: erased with a receipt)."""


class DedupOutcome(StrEnum):
    """How the duplicate check at a subject's first capture ended (``DedupCase.outcome``)."""

    OPEN = "open"
    """Waiting for the adjudicators."""
    ENROLLED = "enrolled"
    """No candidate was confirmed: the subject was enrolled."""
    ERASED = "erased"
    """A candidate was confirmed as the same person: the new record was erased with a receipt."""
    WITHDRAWN = "withdrawn"
    """The person withdrew consent (and was erased) before the review ended."""
