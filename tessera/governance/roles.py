"""Who may do what. docs/roles.md shows this table; a test holds the two together."""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ENROLLER = "enroller"
    VERIFIER = "verifier"
    AUDITOR = "auditor"


class Permission(StrEnum):
    MANAGE_GALLERIES = "manage_galleries"
    ENROL = "enrol"
    VERIFY = "verify"
    IDENTIFY = "identify"
    ERASE = "erase"
    READ_AUDIT = "read_audit"
    MANAGE_KEYS = "manage_keys"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ENROLLER: frozenset({Permission.ENROL, Permission.VERIFY, Permission.IDENTIFY, Permission.ERASE}),
    Role.VERIFIER: frozenset({Permission.VERIFY}),
    Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
}


def allows(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
