"""Who may do what. docs/roles.md shows this table; a test holds the two together."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ENROLLER = "enroller"
    VERIFIER = "verifier"
    AUDITOR = "auditor"
    ADJUDICATOR = "adjudicator"


class Permission(StrEnum):
    MANAGE_GALLERIES = "manage_galleries"
    READ_GALLERIES = "read_galleries"
    MANAGE_CONSENT_TEXTS = "manage_consent_texts"
    READ_CONSENT_TEXTS = "read_consent_texts"
    ENROL = "enrol"
    VERIFY = "verify"
    IDENTIFY = "identify"
    ERASE = "erase"
    SUBJECT_ACCESS = "subject_access"
    ADJUDICATE = "adjudicate"
    SUSPEND_IDENTIFICATION = "suspend_identification"
    RUN_RETENTION = "run_retention"
    READ_AUDIT = "read_audit"
    READ_TRANSPARENCY = "read_transparency"
    MANAGE_KEYS = "manage_keys"
    HANDLE_COMPLAINTS = "handle_complaints"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # An admin runs the instance but does not review candidates: adjudication
    # is kept to trained adjudicators, so no single key can search and confirm.
    Role.ADMIN: frozenset(Permission) - {Permission.ADJUDICATE},
    Role.ENROLLER: frozenset(
        {
            Permission.READ_GALLERIES,
            Permission.READ_CONSENT_TEXTS,
            Permission.ENROL,
            Permission.VERIFY,
            Permission.IDENTIFY,
            Permission.ERASE,
            Permission.SUBJECT_ACCESS,
        }
    ),
    Role.VERIFIER: frozenset({Permission.VERIFY, Permission.READ_GALLERIES}),
    Role.AUDITOR: frozenset(
        {
            Permission.READ_AUDIT,
            Permission.READ_TRANSPARENCY,
            Permission.READ_CONSENT_TEXTS,
            Permission.READ_GALLERIES,
        }
    ),
    Role.ADJUDICATOR: frozenset({Permission.ADJUDICATE}),
}


def allows(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
