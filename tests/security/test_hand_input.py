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


@pytest.mark.slow
def test_the_fingers_cut_from_a_hand_are_read_within_the_contactless_photo_limit(tmp_path, monkeypatch):
    """Enrolment read each finger's crop as cut, whatever its size (landmarks of a long distal phalanx on a 40 MP
    photo cut 1152 x 10,900 px crops, 12.5 MP, above the 5 MP of ``max_finger_pixels``); verification and search
    decode the same crop within that limit, so the same photo was read differently. Every route now reads at most
    that many pixels per finger, as for a contactless photo sent alone."""
    from fastapi.testclient import TestClient

    from tessera.api.app import create_app
    from tessera.match import matchers
    from tessera.settings import Settings
    from tessera.workflows.instance import Instance
    from tessera.workflows.keys import create_key
    from tests.api.test_hands import slap

    most = 60_000
    instance = Instance.open(Settings(data_dir=tmp_path / "var", max_finger_pixels=most))
    roles = ("admin", "enroller", "verifier")
    headers = {role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"} for role in roles}
    api = Api(TestClient(create_app(instance), raise_server_exceptions=False), headers)
    read: list[int] = []
    original = matchers.extract_finger

    def counting(image, *args, **kwargs):
        read.append(image.shape[0] * image.shape[1])
        return original(image, *args, **kwargs)

    monkeypatch.setattr(matchers, "extract_finger", counting)
    photo, landmarks = slap(1, 1, angle_deg=20.0)
    for route, (path, form, field, photo_field) in hand_routes(api).items():
        read.clear()
        api.client.post(
            path,
            data={**form, field: json.dumps(landmarks)},
            files={photo_field: ("hand.jpg", photo, "image/jpeg")},
            headers=api.headers[ROLES[route]],
        )
        # a verification reads fingers only against references, which the shrunk crops did not make
        assert read or route == "verify", f"{route}: no finger was read"
        assert max(read, default=0) <= most, f"{route}: fingers of {read} pixels read"
    instance.close()
