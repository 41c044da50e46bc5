"""The hand (slap) routes' own fields, as an attacker with a valid key sends them: a clear 4xx, never a 5xx.

A hand photo comes with 21 landmarks (a JSON form field) and which hand it is. Every way of getting them wrong that
the parser can see is answered 422 ``invalid_landmarks`` (or ``invalid_request`` for the form's own limits) before
the photo is decoded, on the three routes that take a hand: enrol, verify and identify. The photo itself is sent
the malicious-image set in ``test_malicious_images.py``; what each costs: ``python -m
tests.security.measure_route_cost``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tessera.finger.slap import parse_landmarks
from tests.service_fixtures import Api, png

HAND = [[0.5 + 0.01 * n, 0.5 - 0.02 * n] for n in range(21)]
"""21 points inside the photo (no hand: the parser does not judge the shape)."""


def with_first(value: object) -> str:
    """The landmarks with the first point's x replaced by ``value``, as JSON text."""
    points = [list(point) for point in HAND]
    points[0][0] = value
    return json.dumps(points)


def hand_routes(api: Api) -> dict[str, tuple[str, dict[str, str], str, str]]:
    """Each hand route: (path, form fields beside the landmarks, the landmarks' field, the photo's field)."""
    gallery = api.gallery()
    subject = api.subject(gallery, modalities=("face", "finger"))
    search = {"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-1"}
    return {
        "enrol": (f"/v1/subjects/{subject}/hands", {"hand": "right"}, "landmarks", "image"),
        "verify": ("/v1/verify", {"subject_id": subject, "hand": "right"}, "hand_landmarks", "hand_image"),
        "identify": ("/v1/identify", {**search, "hand": "right"}, "hand_landmarks", "hand_image"),
    }


ROLES = {"enrol": "enroller", "verify": "verifier", "identify": "enroller"}

UNREADABLE = {
    "an integer too large for a float": with_first(10**400),
    "a 4,000-digit integer": with_first(10**3999),
    "NaN": with_first(float("nan")),
    "Infinity": with_first(float("inf")),
    "1e309 (infinite once read)": json.dumps(HAND).replace(json.dumps(HAND[0][0]), "1e309", 1),
    "1e308": with_first(1e308),
    "-1e308": with_first(-1e308),
    "a string": with_first("0.5"),
    "a boolean": with_first(True),
    "null": with_first(None),
    "20 points": json.dumps(HAND[:20]),
    "22 points": json.dumps(HAND + [[0.5, 0.5]]),
    "points nested once more": json.dumps([[point] for point in HAND]),
    "nested 3,999 deep": "[" * 3999 + "]" * 3999,
    "an object": json.dumps({str(n): point for n, point in enumerate(HAND)}),
    "not JSON": "{{{",
    "points far outside the photo": json.dumps([[x + 1.5, y + 1.5] for x, y in HAND]),
}


@pytest.mark.parametrize("what", list(UNREADABLE))
def test_unreadable_landmarks_are_refused_with_their_reason_on_every_hand_route(api: Api, what):
    photo = png(np.full((64, 64, 3), 128, np.uint8))
    for route, (path, form, field, photo_field) in hand_routes(api).items():
        response = api.client.post(
            path,
            data={**form, field: UNREADABLE[what]},
            files={photo_field: ("hand.png", photo, "image/png")},
            headers=api.headers[ROLES[route]],
        )
        assert response.status_code == 422, f"{what} on {route}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "invalid_landmarks", f"{what} on {route}: {response.text}"


def test_a_number_too_large_for_a_float_is_named_in_the_message():
    with pytest.raises(ValueError, match=r"landmarks\[0\] must have finite numbers x and y"):
        parse_landmarks([[10**400, 0.5]] + HAND[1:])
