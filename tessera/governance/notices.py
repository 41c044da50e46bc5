"""Adverse-step notices: what a person is told when a finding affects them (GDPR Art. 13-14, 22(3)).

A notice is created by the case workflow, not by anyone's choice: when two reviewers confirm that a
person's record matches a search (a possible duplicate became a finding), when a duplicate check's finding
erases a new registration, and when a contest of a finding is decided. It is for the person: it names them
and what happened, never anyone else. No notice is made while a candidate is still a lead: candidates are
not revealed before review.

A registration erased as a duplicate has no record left to name: its notice is kept under the erased
registration's number and the case number the person was given at enrolment (``DUP-...``), in the language
of the consent text they were shown (:data:`ERASED_WORDS`), and never says whom it was found to duplicate.
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
    MATCH_CORRECTED = "match_corrected"
    """A finding that a registration matches the person's record was found wrong on someone else's contest."""
    DUPLICATE_ERASED = "duplicate_erased"
    """Two reviewers found the person's new registration to duplicate an existing one: it was erased."""
    DUPLICATE_UPHELD = "duplicate_upheld"
    """The person contested that finding; other reviewers re-reviewed it and upheld it."""
    DUPLICATE_CORRECTED = "duplicate_corrected"
    """Other reviewers found that finding wrong (every finding of the case, when it had several): the person may
    register again, with a new consent."""
    DUPLICATE_PARTLY_CORRECTED = "duplicate_partly_corrected"
    """The registration was found to duplicate several records; the person's contest re-reviewed each finding, some
    were found wrong and at least one was kept: it stays erased. Says how many, never whose."""


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
    NoticeKind.MATCH_CORRECTED: (
        "The finding that a registration matches your record was looked at again by reviewers who had not taken "
        "the first decision, and they found it was wrong. It has been corrected in the records."
    ),
}
"""What each notice about a person's record says, in plain words ({purpose}: the search's purpose)."""

ERASED_WORDS: dict[str, dict[NoticeKind, str]] = {
    "en": {
        NoticeKind.DUPLICATE_ERASED: (
            "On {date}, two trained reviewers decided that your registration (case {reference}) was a second "
            "registration of a person already enrolled in this programme, and it was erased. Your photos or "
            "fingerprints, and the numbers made from them, were destroyed with their key: they cannot be restored. "
            "If you registered only once, you can contest this decision: give a field worker the case number "
            "{reference} and your reasons, and reviewers who did not take it will look at it again. There is no "
            "time limit for this. If they find the decision was wrong, you can register again, with a new consent."
        ),
        NoticeKind.DUPLICATE_UPHELD: (
            "You contested the decision of case {reference} that your registration was a second registration. "
            "On {date}, reviewers who had not taken the first decision looked at it again and kept it. You can "
            "still complain."
        ),
        NoticeKind.DUPLICATE_CORRECTED: (
            "On {date}, reviewers who had not taken the first decision looked again at the decision of case "
            "{reference} that your registration was a second registration, and found it was wrong. The records now "
            "say so. Your erased registration cannot be restored: its data were destroyed. Please register again "
            "with a field worker, with a new consent, and quote case {reference} if asked."
        ),
        NoticeKind.DUPLICATE_PARTLY_CORRECTED: (
            "On {date}, reviewers who had not taken the first decision looked again at the decision of case "
            "{reference} that your registration was a second registration. Your registration had matched {matched} "
            "records of people already enrolled in this programme: they found {overturned} of these findings wrong "
            "and kept {kept}, so your registration is still a second registration and stays erased. The records now "
            "say which findings were wrong. You can still complain."
        ),
    },
    "fr": {
        NoticeKind.DUPLICATE_ERASED: (
            "Le {date}, deux examinateurs formés ont décidé que votre enregistrement (dossier {reference}) était un "
            "second enregistrement d'une personne déjà inscrite dans ce programme, et il a été effacé. Vos photos "
            "ou empreintes, et les nombres calculés à partir d'elles, ont été détruits avec leur clé : ils ne "
            "peuvent pas être rétablis. Si vous ne vous êtes enregistré qu'une fois, vous pouvez contester cette "
            "décision : donnez à un agent le numéro de dossier {reference} et vos raisons, et des examinateurs qui "
            "ne l'ont pas prise la réexamineront. Il n'y a pas de délai pour cela. S'ils trouvent que la décision "
            "était fausse, vous pourrez vous enregistrer à nouveau, avec un nouveau consentement."
        ),
        NoticeKind.DUPLICATE_UPHELD: (
            "Vous avez contesté la décision du dossier {reference} selon laquelle votre enregistrement était un "
            "second enregistrement. Le {date}, des examinateurs qui n'avaient pas pris la première décision l'ont "
            "réexaminée et maintenue. Vous pouvez encore porter plainte."
        ),
        NoticeKind.DUPLICATE_CORRECTED: (
            "Le {date}, des examinateurs qui n'avaient pas pris la première décision ont réexaminé la décision du "
            "dossier {reference} selon laquelle votre enregistrement était un second enregistrement, et l'ont "
            "trouvée fausse. Les registres le disent désormais. Votre enregistrement effacé ne peut pas être "
            "rétabli : ses données ont été détruites. Enregistrez-vous à nouveau auprès d'un agent, avec un nouveau "
            "consentement, et citez le dossier {reference} si on vous le demande."
        ),
        NoticeKind.DUPLICATE_PARTLY_CORRECTED: (
            "Le {date}, des examinateurs qui n'avaient pas pris la première décision ont réexaminé la décision du "
            "dossier {reference} selon laquelle votre enregistrement était un second enregistrement. Votre "
            "enregistrement correspondait à {matched} enregistrements de personnes déjà inscrites dans ce programme : "
            "ils ont trouvé {overturned} de ces constats faux et en ont maintenu {kept}. Votre enregistrement reste "
            "donc un second enregistrement et reste effacé. Les registres disent désormais quels constats étaient "
            "faux. Vous pouvez encore porter plainte."
        ),
    },
}
"""What a notice of an erased registration says, per language of the consent text the person was shown ({date}:
the day of the step, {reference}: the case number; {matched}, {overturned} and {kept}: how many findings of the
case the contest re-reviewed, found wrong and kept, counts only); a new language is one more entry (a test checks
every entry has every kind)."""

FOR_ERASED = frozenset(
    {
        NoticeKind.DUPLICATE_ERASED,
        NoticeKind.DUPLICATE_UPHELD,
        NoticeKind.DUPLICATE_CORRECTED,
        NoticeKind.DUPLICATE_PARTLY_CORRECTED,
    }
)
"""The notices for a registration that was erased: kept under its case number, worded by :data:`ERASED_WORDS`."""

CONTESTABLE = frozenset({NoticeKind.CONFIRMED_MATCH, NoticeKind.DUPLICATE_ERASED})
"""The notices whose finding the person may contest (once, while the finding stands)."""


def plain_words(
    kind: NoticeKind,
    language: str | None,
    *,
    purpose: str,
    date: str,
    reference: str | None,
    reviewed: tuple[int, int] = (0, 0),
) -> str:
    """The notice's text: in ``language`` for an erased registration's notice where Tessera has its words, else in
    English. ``reviewed``: how many findings a contest found wrong and how many it kept (a partly corrected one)."""
    if kind in FOR_ERASED:
        words = ERASED_WORDS.get(language or "en", ERASED_WORDS["en"])
        overturned, kept = reviewed
        return words[kind].format(
            date=date, reference=reference, matched=overturned + kept, overturned=overturned, kept=kept
        )
    return PLAIN_WORDS[kind].format(purpose=purpose)
