"""Adverse-step notices: what a person is told when a finding affects them (GDPR Art. 13-14, 22(3)).

A notice is created by the case workflow, not by anyone's choice: when two reviewers confirm that a
person's record matches a search (a possible duplicate became a finding), and when a contest of that
finding is decided. It is for the person: it names them and what happened, never anyone else.
No notice is made while a candidate is still a lead: candidates are not revealed before review.
"""

from __future__ import annotations

from enum import StrEnum


class NoticeKind(StrEnum):
    CONFIRMED_MATCH = "confirmed_match"
    """Two reviewers confirmed that the person's record matches a search (e.g. a duplicate registration)."""
    FINDING_UPHELD = "finding_upheld"
    """The person contested the finding; other reviewers re-reviewed it and upheld it."""
    FINDING_CORRECTED = "finding_corrected"
    """The person contested the finding; other reviewers found it wrong, and it is corrected."""


PLAIN_WORDS: dict[NoticeKind, str] = {
    NoticeKind.CONFIRMED_MATCH: (
        "When the programme checked a registration against its records ({purpose}), two trained reviewers "
        "decided that it matches your record. This may affect the help you receive. If you think this is wrong, "
        "you can contest it: a field worker records your reasons and reviewers who did not take this decision "
        "look at it again."
    ),
    NoticeKind.FINDING_UPHELD: (
        "You contested the finding that a registration matches your record. Reviewers who had not taken the "
        "first decision looked at it again and kept it. You can still complain."
    ),
    NoticeKind.FINDING_CORRECTED: (
        "You contested the finding that a registration matches your record. Reviewers who had not taken the "
        "first decision looked at it again and found it was wrong. It has been corrected in the records."
    ),
}
"""What each notice says to the person, in plain words ({purpose}: the search's purpose)."""

CONTESTABLE = frozenset({NoticeKind.CONFIRMED_MATCH})
"""The notices whose finding the person may contest (once)."""
