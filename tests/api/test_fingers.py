"""Fingers through the service: enrol, verify, identify, refuse, erase, on real FVC2004 DB1_B prints.

Extraction takes about a second per image, so the module shares one instance
and one set of enrolments, and the tests run in reading order on it
(erasure last). Until a finger calibration ships, scores are reported with
their false-match rate unknown; tests of the calibrated path install a
*synthetic* calibration (:func:`synthetic_calibration`), which checks the
plumbing, not the accuracy.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tessera.api.app import create_app
from tessera.match.calibration import fit_calibration
from tessera.settings import Settings
from tessera.store.models import AuditEntry, Template
from tessera.workflows.instance import Instance, load_finger_calibrations
from tests.conftest import SHARED_DATA, _require
from tests.service_fixtures import Api, consent
from tessera.workflows.keys import create_key

FVC = SHARED_DATA / "finger" / "fvc2004" / "DB1_B"
WALL = np.full((960, 1280, 3), (182, 170, 150), np.uint8)
POSITION = 2  # right index


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG")
    return buffer.getvalue()


def synthetic_calibration(capture: str = "contact"):
    """A stand-in finger calibration from made-up score distributions: tests the calibrated path only."""
    rng = np.random.default_rng(0)
    impostor = rng.beta(2.0, 60.0, 20_000)
    genuine = rng.uniform(0.15, 0.9, 2_000)
    return fit_calibration(genuine, impostor, modality="finger", algorithm="synthetic-for-tests",
                           data={"dataset": "synthetic (tests only)", "capture": capture}, score_range=(0.0, 1.0))


def count_templates(instance, modality: str = "finger") -> int:
    with instance.sessions() as session:
        return session.scalar(select(func.count()).select_from(Template).where(Template.modality == modality))


class FingerApi(Api):
    def enrol_finger(self, subject_id, image, position=POSITION, capture="contact", headers=None):
        return self.client.post(
            f"/v1/subjects/{subject_id}/fingers", files={"image": ("finger.png", image, "image/png")},
            data={"finger_position": str(position), "capture": capture}, headers=headers or self.headers["enroller"],
        )

    def finger_form(self, fingers, face=None):
        files = [("finger_image", (f"f{i}.png", image, "image/png")) for i, (image, _, _) in enumerate(fingers)]
        if face is not None:
            files.append(("image", ("face.jpg", face, "image/jpeg")))
        data = {"finger_position": [str(p) for _, p, _ in fingers], "capture": [c for _, _, c in fingers]}
        return files, data

    def verify_fingers(self, subject_id, fingers, face=None):
        files, data = self.finger_form(fingers, face)
        return self.client.post("/v1/verify", data={"subject_id": subject_id, **data}, files=files, headers=self.headers["verifier"])

    def identify_fingers(self, gallery_id, fingers, face=None):
        files, data = self.finger_form(fingers, face)
        return self.client.post(
            "/v1/identify", data={"gallery_id": gallery_id, "purpose": "deduplicate", "case_reference": "CASE-F", **data},
            files=files, headers=self.headers["enroller"],
        )


@pytest.fixture(scope="module")
def prints():
    """Bytes of FVC2004 DB1_B impression ``finger_n`` (e.g. ``"101_2"``)."""
    _require(FVC, "FVC2004 DB1_B (finger/fvc2004/DB1_B)")
    return lambda name: _require(FVC / f"{name}.png", f"FVC2004 DB1_B {name}.png").read_bytes()


@pytest.fixture(scope="module")
def service(tmp_path_factory, prints):
    instance = Instance.open(Settings(data_dir=tmp_path_factory.mktemp("fingers") / "var"), finger_calibrations={})
    client = TestClient(create_app(instance), raise_server_exceptions=False)
    keys = {role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
            for role in ("admin", "enroller", "verifier", "auditor", "adjudicator")}
    api = FingerApi(client, keys)
    gallery = api.gallery("Finger gallery")
    both = ("face", "finger")
    people = {name: api.subject(gallery, modalities=both, signed_by=f"Person {name}") for name in ("a", "b")}
    for name, impression in (("a", "101_1"), ("b", "102_1")):
        response = api.enrol_finger(people[name], prints(impression))
        assert response.status_code == 201, response.text
        people[f"{name}_template"] = response.json()["template_id"]
    yield instance, api, gallery, people
    instance.close()


def test_enrol_stores_a_sealed_finger_template(service, prints):
    instance, api, _, people = service
    with instance.sessions() as session:
        template = session.get(Template, people["a_template"])
        assert (template.modality, template.finger_position, template.capture) == ("finger", POSITION, "contact")
        assert template.algorithm.startswith("tessera-finger-")
        assert b"FMR\x00" not in template.ciphertext  # the ISO record is sealed, not stored in clear
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "finger.enrol")).first()
    assert json.loads(entry.body)["details"]["finger_position"] == POSITION
    assert instance.finger_index.size() == 2


def test_uncalibrated_verify_reports_scores_with_fmr_unknown(service, prints):
    instance, api, _, people = service
    mate = prints("101_2")
    same = api.verify_fingers(people["a"], [(mate, POSITION, "contact")])
    other = api.verify_fingers(people["b"], [(mate, POSITION, "contact")])
    assert same.status_code == other.status_code == 200, (same.text, other.text)
    same, other = same.json(), other.json()
    assert same["score"] > 0.2 > other["score"], (same["score"], other["score"])  # a mate well above a non-mate
    for body in (same, other):
        assert body["decision"] == "inconclusive" and body["reason"] == "not_calibrated"
        assert body["fmr"] is None and body["threshold"] is None and body["modalities_compared"] == ["finger"]
        assert body["comparisons"][0]["calibrated"] is False and body["comparisons"][0]["finger_position"] == POSITION


def test_uncalibrated_identify_is_refused(service, prints):
    instance, api, gallery, _ = service
    response = api.identify_fingers(gallery, [(prints("101_2"), POSITION, "contact")])
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_calibrated"
    assert "calibration" in response.json()["error"]["message"]


def test_calibrated_verify_and_identify(service, prints, monkeypatch):
    instance, api, gallery, people = service
    monkeypatch.setitem(instance.finger_calibrations, "contact", synthetic_calibration())
    mate = prints("101_2")
    answer = api.verify_fingers(people["a"], [(mate, POSITION, "contact")]).json()
    assert answer["decision"] == "match" and answer["fmr"] == pytest.approx(1e-3, rel=0.2)
    assert answer["fmr_detail"]["basis"] in ("measured", "upper_bound", "extrapolated")
    search = api.identify_fingers(gallery, [(mate, POSITION, "contact")])
    assert search.status_code == 200, search.text
    body = search.json()
    assert [c["subject_id"] for c in body["candidates"]] == [people["a"]]
    candidate = body["candidates"][0]
    assert candidate["modality"] == "finger" and candidate["finger_position"] == POSITION and candidate["fmr"] > 0
    assert body["gallery_size"] == 2 and body["modalities_compared"] == ["finger"]
    assert body["probes"][0]["finger_position"] == POSITION
    # Another finger position is another search: nobody has a left thumb enrolled.
    other = api.identify_fingers(gallery, [(mate, 6, "contact")]).json()
    assert other["candidates"] == [] and other["gallery_size"] == 0


def test_idempotent_retry_enrols_once(service, prints):
    instance, api, _, people = service
    before = count_templates(instance)
    headers = {**api.headers["enroller"], "Idempotency-Key": "finger-k-1"}
    image = prints("101_3")
    first = api.enrol_finger(people["a"], image, headers=headers)
    again = api.enrol_finger(people["a"], image, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    plain = api.enrol_finger(people["a"], image)
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "duplicate_capture"
    assert count_templates(instance) == before + 1


@pytest.mark.parametrize("picture", ["face", "wall"])
def test_a_face_or_a_wall_is_not_a_finger(service, lfw_person, picture):
    instance, api, _, people = service
    before = (count_templates(instance), instance.finger_index.size())
    image = lfw_person("Colin_Powell", 1)[0] if picture == "face" else jpeg(WALL)
    response = api.client.post(
        f"/v1/subjects/{people['b']}/fingers", files={"image": ("x.jpg", image, "image/jpeg")},
        data={"finger_position": str(POSITION), "capture": "contactless"}, headers=api.headers["enroller"],
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "not_a_finger" and error["message"]
    if picture == "face":
        assert "face" in error["message"]
    assert (count_templates(instance), instance.finger_index.size()) == before


def test_finger_fields_are_checked(service, prints):
    _, api, _, people = service
    response = api.enrol_finger(people["a"], b"not read", position=11)
    assert response.status_code == 422 and "finger_position" in response.json()["error"]["message"]
    response = api.enrol_finger(people["a"], b"not read", capture="video")
    assert response.status_code == 422 and "capture" in response.json()["error"]["message"]
    response = api.client.post("/v1/verify", data={"subject_id": people["a"], "finger_position": ["2", "3"], "capture": "contact"},
                               files=[("finger_image", ("f.png", b"x", "image/png"))], headers=api.headers["verifier"])
    assert response.status_code == 422 and "finger_position" in response.json()["error"]["message"]
    response = api.client.post("/v1/verify", data={"subject_id": people["a"], "finger_position": "11", "capture": "contact"},
                               files=[("finger_image", ("f.png", b"x", "image/png"))], headers=api.headers["verifier"])
    assert response.status_code == 422 and "finger_position" in response.json()["error"]["message"]
    response = api.client.post("/v1/verify", data={"subject_id": people["a"]}, headers=api.headers["verifier"])
    assert response.status_code == 422 and "image" in response.json()["error"]["message"]


def test_finger_needs_consent_to_the_finger_modality(service, prints):
    instance, api, gallery, _ = service
    face_only = api.subject(gallery, modalities=("face",), signed_by="Face only")
    before = count_templates(instance)
    response = api.enrol_finger(face_only, prints("104_1"))
    assert count_templates(instance) == before
    assert response.status_code == 409 and response.json()["error"]["code"] == "modality_not_consented"
    with instance.sessions() as session:
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "finger.enrol", AuditEntry.subject_id == face_only)).one()
    assert refused.outcome == "refused:modality_not_consented"


def test_multimodal_verify_and_identify_report_both_modalities(service, prints, lfw_person, monkeypatch):
    instance, api, gallery, _ = service
    subject = api.subject(gallery, modalities=("face", "finger"), signed_by="Person c")
    faces = lfw_person("Colin_Powell", 2)
    assert api.enrol(subject, faces[0]).status_code == 201
    assert api.enrol_finger(subject, prints("103_1")).status_code == 201
    response = api.verify_fingers(subject, [(prints("103_2"), POSITION, "contact")], face=faces[1])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["modalities_compared"] == ["face", "finger"]
    assert body["decision"] == "inconclusive" and body["reason"] == "not_fused" and body["fused"] is False
    by_modality = {c["modality"]: c for c in body["comparisons"]}
    assert by_modality["face"]["calibrated"] and by_modality["face"]["fmr"] > 0 and by_modality["face"]["score"] > 0.5
    assert by_modality["finger"]["score"] > 0.2 and by_modality["finger"]["fmr"] is None  # no finger calibration here
    # A face-only request answers as it always did: the face decision at the top.
    face_only = api.verify(subject, faces[1]).json()
    assert face_only["decision"] in ("match", "no_match") and face_only["threshold"] > 0
    assert face_only["modalities_compared"] == ["face"]
    # 1:N with both: each probe searched on its own, candidates tagged with the probe that found them.
    monkeypatch.setitem(instance.finger_calibrations, "contact", synthetic_calibration())
    search = api.identify_fingers(gallery, [(prints("103_2"), POSITION, "contact")], face=faces[1])
    assert search.status_code == 200, search.text
    body = search.json()
    assert body["modalities_compared"] == ["face", "finger"] and body["threshold"] is None
    assert [(p["modality"], p["finger_position"]) for p in body["probes"]] == [("face", None), ("finger", POSITION)]
    assert body["expected_false_candidates"] == pytest.approx(sum(p["expected_false_candidates"] for p in body["probes"]))
    assert (subject, "finger") in {(c["subject_id"], c["modality"]) for c in body["candidates"]}
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "multimodal.identify")).one()
    assert len(json.loads(entry.body)["details"]["probes"]) == 2


def test_subject_access_lists_finger_captures_without_templates(service):
    _, api, _, people = service
    body = api.client.get(f"/v1/subjects/{people['a']}/export", headers=api.headers["enroller"]).json()
    fingers = [c for c in body["captures"] if c["modality"] == "finger"]
    assert fingers and all(c["finger_position"] == POSITION and c["capture"] == "contact" for c in fingers)
    assert "FMR" not in json.dumps(body) and "ciphertext" not in json.dumps(body)


def test_transparency_counts_finger_captures_and_finger_searches(service):
    instance, api, _, _ = service
    from tessera.workflows.transparency import SEARCH_ACTIONS, transparency_report

    with instance.sessions() as session:
        searches = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(SEARCH_ACTIONS))).all()
    refused = [entry for entry in searches if entry.outcome.startswith("refused:")]
    assert any(entry.action == "finger.identify" for entry in refused), "a refused finger search is audited as one"
    totals = {}
    for counts in transparency_report(instance, period="year")["periods"].values():
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    assert totals["finger_captures"] >= 2
    assert totals["refusals.not_calibrated"] >= 1
    assert totals.get("searches.deduplicate", 0) == len(searches) - len(refused)
    assert any(key.startswith("verifications.") for key in totals)


def test_openapi_shows_the_finger_fields(service):
    _, api, _, _ = service
    document = api.client.get("/openapi.json").json()
    assert "/v1/subjects/{subject_id}/fingers" in document["paths"]
    text = json.dumps(document)
    for name in ("finger_image", "finger_position", "capture", "comparisons", "modalities_compared"):
        assert name in text, name


def test_restart_rebuilds_the_finger_index(service):
    instance, _, _, _ = service
    reopened = Instance.open(instance.settings, finger_calibrations={})
    try:
        assert reopened.finger_index.size() == instance.finger_index.size() == count_templates(instance)
    finally:
        reopened.close()


def test_erasure_removes_finger_templates_and_index_entries(service, prints, monkeypatch):
    instance, api, gallery, people = service
    monkeypatch.setitem(instance.finger_calibrations, "contact", synthetic_calibration())
    before = instance.finger_index.size()
    with instance.sessions() as session:
        held = session.scalar(select(func.count()).select_from(Template).where(Template.subject_id == people["a"]))
    assert held >= 1
    receipt = api.client.delete(f"/v1/subjects/{people['a']}", headers=api.headers["enroller"]).json()
    assert receipt["templates_erased"] == held and receipt["index_entries_removed"] == held
    assert instance.finger_index.size() == before - held
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Template).where(Template.subject_id == people["a"])) == 0
    body = api.identify_fingers(gallery, [(prints("101_2"), POSITION, "contact")]).json()
    assert people["a"] not in [c["subject_id"] for c in body["candidates"]]


def test_finger_calibrations_are_found_by_capture(tmp_path):
    assert load_finger_calibrations(tmp_path) == {}
    synthetic_calibration("contactless").save(tmp_path / "finger-phone.json")
    assert set(load_finger_calibrations(tmp_path)) == {"contactless"}
    load_finger_calibrations()  # whatever ships with Tessera loads


def test_cli_enrols_and_verifies_a_finger(tmp_path, prints):
    from typer.testing import CliRunner

    from tessera.cli import app
    from tests.service_fixtures import CONSENT_TEXT

    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "instance")])
        assert result.exit_code == 0, result.output
        return result.stdout

    (tmp_path / "consent.json").write_text(json.dumps(consent(modalities=("finger",))))
    (tmp_path / "consent.txt").write_text(CONSENT_TEXT)
    (tmp_path / "101_1.png").write_bytes(prints("101_1"))
    (tmp_path / "101_2.png").write_bytes(prints("101_2"))
    gallery = run("gallery", "create", "Clinic 5", "--purpose", "Vaccination records").strip()
    run("consent-text", "add", str(tmp_path / "consent.txt"), "--version", "2026-01")
    subject = run("enrol", "--gallery-id", gallery, "--consent-file", str(tmp_path / "consent.json"),
                  "--finger", str(tmp_path / "101_1.png"), "--finger-position", "2", "--capture", "contact").strip().splitlines()[-1]
    answer = json.loads(run("verify", subject, "--finger", str(tmp_path / "101_2.png"), "--finger-position", "2", "--capture", "contact"))
    assert answer["modalities_compared"] == ["finger"] and answer["comparisons"][0]["score"] > 0.2


def synthetic_cylinders(seed: int):
    """MCC cylinders of made-up minutiae (no extraction): enough to exercise the finger index's filters."""
    from tessera.match.mcc import mcc_template
    from tessera.match.minutiae import Minutiae

    rng = np.random.default_rng(seed)
    count = 40
    return mcc_template(Minutiae(points=rng.uniform(60, 300, (count, 2)), angles=rng.uniform(0, 6.28, count),
                                 kinds=np.ones(count, np.uint8), qualities=np.full(count, 0.8)))


def test_finger_index_filters_like_the_face_index():
    from datetime import datetime, timedelta, timezone

    from tessera.index.fingers import ExactFingerIndex, FingerEntry

    now = datetime.now(timezone.utc)
    index = ExactFingerIndex()
    templates = [synthetic_cylinders(seed) for seed in range(4)]

    def add(template_id, subject, template, *, gallery="g", position=2, capture="contact", purposes=("deduplicate",), days=30):
        index.add(FingerEntry(template_id, subject, gallery, position, capture, template, frozenset(purposes), now + timedelta(days=days)))

    add("t0", "s0", templates[0])
    add("t1", "s1", templates[1])
    add("t2", "s2", templates[0], purposes=("verify",))  # did not consent to searches
    add("t3", "s3", templates[0], days=-1)  # consent expired
    add("t4", "s4", templates[0], gallery="other")
    add("t5", "s5", templates[0], position=3)
    add("t6", "s6", templates[0], capture="contactless")
    found = index.search(templates[0], gallery_id="g", finger_position=2, capture="contact", purpose="deduplicate", now=now)
    assert [hit.subject_id for hit in found.hits] == ["s0", "s1"] and found.searched_subjects == 2
    assert found.hits[0].score > 0.9 > found.hits[1].score  # the same minutiae score highest
    assert index.searchable_subjects(gallery_id="g", finger_position=2, capture="contact", purpose="deduplicate", now=now) == 2
    assert index.search(templates[0], gallery_id="g", finger_position=2, capture="contact", purpose="deduplicate",
                        now=now, threshold=0.9).searched_subjects == 2
    assert index.remove_subject("s0") == 1 and index.size() == 6
    again = index.search(templates[0], gallery_id="g", finger_position=2, capture="contact", purpose="deduplicate", now=now)
    assert [hit.subject_id for hit in again.hits] == ["s1"]
    with pytest.raises(ValueError, match="finger_position"):
        add("t9", "s9", templates[0], position=0)
