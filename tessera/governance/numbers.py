"""Short subject numbers a person can read aloud, copy onto a card and type back without a silent typo.

A number is 10 random characters of Crockford's base32 (0-9 and A-Z without
I, L, O and U: 50 bits, about 10^15 numbers) and one check character,
written in groups for reading aloud: ``TSR-XXXX-XXXX-XXC``, where ``TSR``
says it is a Tessera number (not the programme's own id) and ``C`` is the
check character. Input is read as Crockford reads it: case does not matter,
hyphens and spaces are ignored, ``I`` and ``L`` are ``1``, ``O`` is ``0``;
the ``TSR`` prefix may be left out.

The check character is Crockford's check symbol: the payload's value modulo
37, written with the 32 digits and ``* ~ $ = U``
(https://www.crockford.com/base32.html). 37 is a prime larger than every
digit value and divides neither 32 nor 31, so a single substituted character
changes the value by ``(a - b) 32^i`` and two swapped neighbours by
``(a - b) 31 32^i``, never a multiple of 37: every such typo is caught
(``tests/governance/test_numbers.py`` checks both exhaustively). The console
computes the same check in ``tessera/web/static/numbers.js``.
"""

from __future__ import annotations

import secrets

from tessera.errors import InvalidRequest

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32 digits, value = position."""
CHECK_SYMBOLS = CROCKFORD + "*~$=U"
"""Crockford's check symbols: value = position (0-36)."""
PREFIX = "TSR"
"""Written before every number, so that a Tessera number is told from the programme's own ids."""
PAYLOAD_LENGTH = 10
MODULUS = 37

_CONFUSABLES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def check_character(payload: str) -> str:
    """Crockford's check symbol of a canonical payload: its base-32 value modulo 37.

    Parameters
    ----------
    payload : str
        Canonical Crockford digits (upper case, no confusables).

    Returns
    -------
    str
        One of :data:`CHECK_SYMBOLS`.
    """
    remainder = 0
    for character in payload:  # Horner's rule modulo 37: the same steps as the console's, no big integers
        remainder = (remainder * 32 + CROCKFORD.index(character)) % MODULUS
    return CHECK_SYMBOLS[remainder]


def new_number() -> str:
    """A fresh random subject number in its written form, ``TSR-XXXX-XXXX-XXC``."""
    payload = "".join(secrets.choice(CROCKFORD) for _ in range(PAYLOAD_LENGTH))
    return format_number(payload + check_character(payload))


def format_number(canonical: str) -> str:
    """``TSR-XXXX-XXXX-XXC`` from the 11 canonical characters (payload and check)."""
    return f"{PREFIX}-{canonical[0:4]}-{canonical[4:8]}-{canonical[8:11]}"


def parse_number(text: str) -> str | None:
    """The written form of a number typed by a person, or None when ``text`` is not one.

    Parameters
    ----------
    text : str
        Any case, with or without hyphens or spaces and the ``TSR`` prefix; ``I``/``L`` read as ``1`` and ``O`` as
        ``0`` in the payload.

    Returns
    -------
    str or None
        ``TSR-XXXX-XXXX-XXC``, or None when the text is not 11 characters of the alphabets once cleaned.
    """
    cleaned = "".join(text.split()).replace("-", "").upper()
    if len(cleaned) == len(PREFIX) + PAYLOAD_LENGTH + 1 and cleaned.startswith(PREFIX):
        cleaned = cleaned[len(PREFIX) :]
    if len(cleaned) != PAYLOAD_LENGTH + 1:
        return None
    payload = cleaned[:PAYLOAD_LENGTH].translate(_CONFUSABLES)
    check = cleaned[PAYLOAD_LENGTH].translate(_CONFUSABLES)
    if any(c not in CROCKFORD for c in payload) or check not in CHECK_SYMBOLS:
        return None
    return format_number(payload + check)


def number_is_valid(text: str) -> bool:
    """Whether ``text`` reads as a number whose check character is right."""
    written = parse_number(text)
    if written is None:
        return False
    canonical = written.replace("-", "")[len(PREFIX) :]
    return check_character(canonical[:PAYLOAD_LENGTH]) == canonical[PAYLOAD_LENGTH]


def checked_number(text: str, argument: str = "number") -> str:
    """The written form of a valid number, else a 422 that names the argument and what was wrong.

    Raises
    ------
    InvalidRequest
        ``invalid_number`` when the text is not a number's shape; ``number_check_failed`` when its check
        character does not match (a typo).
    """
    written = parse_number(text)
    if written is None:
        raise InvalidRequest(
            f"{argument} must be a subject number like TSR-4K7P-9QXM-2W5 (10 characters and a check character); "
            f"got {text[:40]!r}.",
            code="invalid_number",
        )
    if not number_is_valid(written):
        raise InvalidRequest(
            f"{argument} {written} has a wrong check character: a character was mistyped or two were swapped.",
            code="number_check_failed",
        )
    return written
