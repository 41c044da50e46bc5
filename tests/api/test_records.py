"""Short numbers wherever an id is taken, the lookup before the camera, programme ids, and the printable card."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.face.algorithms import FACE_ALGORITHMS
from tessera.governance.numbers import CHECK_SYMBOLS, number_is_valid
from tessera.settings import Settings
from tessera.store.models import AuditEntry
from tessera.workflows.cards import qr_png, qr_svg
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, consent, png


@pytest.fixture
def world(tmp_path):
    before = set(FACE_ALGORITHMS)  # the fakes are taken out again after the test: later modules expect none
    register_fakes(tmp_path / "calibrations")
    instance = Instance.open(Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",)))
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier", "auditor")
    }
    api = Api(client, headers)
    yield api, instance, api.gallery()
    instance.close()
    for algorithm in set(FACE_ALGORITHMS) - before:
        del FACE_ALGORITHMS[algorithm]


def create(api: Api, gallery: str, external_id: str | None = None, signed_by: str = "Officer A"):
    body = {"gallery_id": gallery, "consent": consent(signed_by=signed_by), "external_id": external_id}
    return api.client.post("/v1/subjects", json=body, headers=api.headers["enroller"])


def typo(number: str) -> str:
    wrong = next(s for s in CHECK_SYMBOLS if s != number[-1] and s.isalnum())
    return number[:-1] + wrong


def test_a_new_subject_gets_a_valid_number_accepted_wherever_its_id_is(world):
    api, instance, gallery = world
    created = create(api, gallery).json()
    number = created["number"]
    assert number_is_valid(number) and number.startswith("TSR-")
    spelled = number.lower().replace("-", "")  # as typed by hand
    assert api.enrol(spelled, png(face_image(1))).status_code == 201
    assert api.verify(number, png(face_image(1, 1))).json()["decision"] == "match"
    record = api.client.get(f"/v1/subjects/{spelled}", headers=api.headers["admin"]).json()
    assert record["id"] == created["id"] and record["number"] == number
    assert record["modalities_enrolled"] == ["face"] and record["status"] == "active"
    assert "template" not in str(record) and "score" not in str(record)
    export = api.client.get(f"/v1/subjects/{number}/export", headers=api.headers["enroller"]).json()
    assert export["subject_id"] == created["id"] and export["number"] == number and export["status"] == "active"


def test_a_mistyped_number_is_refused_before_anything_is_read(world):
    api, _, gallery = world
    number = create(api, gallery).json()["number"]
    response = api.enrol(typo(number), png(face_image(1)))
    assert response.status_code == 422 and response.json()["error"]["code"] == "number_check_failed"
    response = api.client.get("/v1/subjects/lookup", params={"number": typo(number)}, headers=api.headers["verifier"])
    assert response.status_code == 422 and response.json()["error"]["code"] == "number_check_failed"
    response = api.client.get("/v1/subjects/lookup", params={"number": "12"}, headers=api.headers["verifier"])
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_number"


def test_lookup_says_what_the_camera_needs_to_know(world):
    api, _, gallery = world
    number = create(api, gallery).json()["number"]
    found = api.client.get("/v1/subjects/lookup", params={"number": number}, headers=api.headers["verifier"])
    assert found.status_code == 200
    assert found.json()["modalities_consented"] == ["face"] and found.json()["modalities_enrolled"] == []
    unknown = "TSR-0000-0000-000"  # a valid number (value 0, check 0) that no subject holds
    assert number_is_valid(unknown)
    missing = api.client.get("/v1/subjects/lookup", params={"number": unknown}, headers=api.headers["verifier"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "subject_not_found"
    refused = api.client.get("/v1/subjects/lookup", params={"number": number}, headers=api.headers["auditor"])
    assert refused.status_code == 403


def test_external_id_is_unique_per_gallery_and_found_with_an_audited_read(world):
    api, instance, gallery = world
    first = create(api, gallery, external_id=" WFP-2026-00017 ").json()
    assert first["external_id"] == "WFP-2026-00017"
    clash = create(api, gallery, external_id="WFP-2026-00017", signed_by="Officer B")
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "external_id_taken"
    other_gallery = api.gallery(name="Clinic 2026")
    assert create(api, other_gallery, external_id="WFP-2026-00017", signed_by="Officer C").status_code == 201
    found = api.client.get(
        "/v1/subjects/by-external-id",
        params={"external_id": "WFP-2026-00017", "gallery_id": gallery},
        headers=api.headers["admin"],
    ).json()["subjects"]
    assert [s["id"] for s in found] == [first["id"]]
    with instance.sessions() as session:
        reads = session.scalars(select(AuditEntry.body).where(AuditEntry.action == "subject.list")).all()
    assert any(first["id"] in body for body in reads)
    url = "/v1/subjects/by-external-id"
    assert api.client.get(url, params={"external_id": "x"}, headers=api.headers["verifier"]).status_code == 403
    missing = api.client.get(url, headers=api.headers["admin"])
    assert missing.status_code == 422 and "error" in missing.json()  # no bulk listing: the id is required


def test_external_id_never_reaches_the_index(world):
    api, instance, gallery = world
    subject = create(api, gallery, external_id="SECRET-PROGRAMME-ID").json()["id"]
    assert api.enrol(subject, png(face_image(3))).status_code == 201
    for matcher in instance.matchers:
        assert "SECRET-PROGRAMME-ID" not in repr(vars(matcher.index))


def _decode(image: np.ndarray) -> str:
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def test_the_card_qr_decodes_to_the_number_and_holds_nothing_else(world):
    api, _, gallery = world
    created = create(api, gallery, external_id="WFP-1").json()
    number = created["number"]
    page = api.client.get(f"/v1/subjects/{number}/card", headers=api.headers["enroller"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert number in page.text and "@media print" in page.text and "85.6mm" in page.text
    assert "WFP-1" not in page.text and created["id"] not in page.text
    svg = api.client.get(f"/v1/subjects/{number}/card", params={"format": "svg"}, headers=api.headers["enroller"])
    assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text.startswith("<svg")
    drawn = re.search(r' d="([^"]+)"', qr_svg(number))
    assert drawn is not None and drawn.group(1) in svg.text  # the card draws the very code decoded below
    image = cv2.imdecode(np.frombuffer(qr_png(number), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert _decode(image) == number
    assert _decode(np.full((200, 200), 255, np.uint8)) != number  # the decoder does not invent a number
    bad = api.client.get(f"/v1/subjects/{number}/card", params={"format": "pdf"}, headers=api.headers["enroller"])
    assert bad.status_code == 422 and "error" in bad.json()
