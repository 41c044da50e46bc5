"""Short subject numbers: the check character catches every single typo and every swap of neighbours."""

import random

import pytest

from tessera.errors import InvalidRequest
from tessera.governance import numbers
from tessera.governance.numbers import (
    CHECK_SYMBOLS,
    CROCKFORD,
    check_character,
    checked_number,
    new_number,
    number_is_valid,
    parse_number,
)


def _canonical(written: str) -> str:
    return written.replace("-", "").removeprefix("TSR")


def _samples(count: int = 200) -> list[str]:
    return [new_number() for _ in range(count)]


def test_a_new_number_has_the_written_shape_and_a_valid_check():
    for number in _samples(50):
        assert len(number) == len("TSR-XXXX-XXXX-XXC")
        assert number.startswith("TSR-") and number[8] == "-" and number[13] == "-"
        assert number_is_valid(number)


def test_every_single_character_substitution_is_caught():
    for number in _samples():
        canonical = _canonical(number)
        for position in range(len(canonical)):
            alphabet = CROCKFORD if position < 10 else CHECK_SYMBOLS
            for symbol in alphabet:
                if symbol == canonical[position]:
                    continue
                typo = canonical[:position] + symbol + canonical[position + 1 :]
                assert not number_is_valid(typo), (number, typo)


def test_every_adjacent_transposition_is_caught():
    for number in _samples():
        canonical = _canonical(number)
        for position in range(len(canonical) - 1):
            a, b = canonical[position], canonical[position + 1]
            if a == b:
                continue
            swapped = canonical[:position] + b + a + canonical[position + 2 :]
            assert not number_is_valid(swapped), (number, swapped)


def test_a_weaker_check_would_fail_this_suite():
    """Mutation check: a check symbol from the payload's plain digit sum (mod 37) misses every transposition."""

    def digit_sum(payload: str) -> str:
        return CHECK_SYMBOLS[sum(CROCKFORD.index(c) for c in payload) % 37]

    canonical = _canonical(new_number())
    payload = canonical[:10]
    swapped = payload[1] + payload[0] + payload[2:]
    assert payload[0] == payload[1] or digit_sum(swapped) == digit_sum(payload)  # the weak check misses it
    assert payload[0] == payload[1] or check_character(swapped) != check_character(payload)


def test_input_is_read_as_crockford_reads_it():
    payload = "1K709QXM2" + "A"
    written = numbers.format_number(payload + check_character(payload))
    canonical = _canonical(written)
    variants = [
        written,
        written.lower(),
        canonical,
        canonical.lower(),
        " ".join([canonical[:4], canonical[4:8], canonical[8:]]),
        canonical.replace("1", "I").replace("0", "O"),
        canonical.replace("1", "l").replace("0", "o"),
    ]
    for variant in variants:
        assert parse_number(variant) == written, variant
        assert checked_number(variant) == written


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "invalid_number"),
        ("TSR-1234", "invalid_number"),
        ("5f0c7d1e-8a55-4d43-9a44-1f0d6a1f2b7c", "invalid_number"),
        ("TSR-UUUU-UUUU-UU0", "invalid_number"),  # U is no payload digit
    ],
)
def test_a_malformed_number_is_refused_with_its_code(text, code):
    with pytest.raises(InvalidRequest, match="must be a subject number") as caught:
        checked_number(text)
    assert caught.value.code == code


def test_a_typo_is_refused_as_a_failed_check():
    canonical = _canonical(new_number())
    wrong = random.Random(7).choice([s for s in CHECK_SYMBOLS if s != canonical[10]])
    with pytest.raises(InvalidRequest, match="wrong check character") as caught:
        checked_number(canonical[:10] + wrong)
    assert caught.value.code == "number_check_failed"
