"""Fingers through the service: enrol, verify, identify, refuse, erase, on real FVC2004 DB1_B prints.

Extraction takes about a second per image, so the enrolments every test starts
from are made once per module, into a data folder no test opens
(:class:`Enrolled`); each test gets its own copy of that folder and its own
instance on it (:func:`service`), so tests share no state and pass in any
order, alone or together. The instance is opened without finger calibrations,
so single-finger scores are reported with their false-match rate unknown;
tests of the calibrated path install a *synthetic* calibration
(:func:`synthetic_calibration`), which checks the plumbing, not the accuracy.
Multimodal requests are fused with the shipped fusion models, on a face from
LFW and a finger from FVC2004 DB1_B of two different people (a chimera).
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tessera.api.app import create_app
from tessera.finger.config import FingerConfig
from tessera.index.finger import FingerIndex
from tessera.index.finger_prefilter import PrefilterConfig
from tessera.match.calibration import fit_calibration
from tessera.match.matchers import default_index, load_finger_calibrations
from tessera.match.mcc import MccScorer
from tessera.settings import Settings
from tessera.store.models import AuditEntry, Template
from tessera.workflows.instance import Instance, InstanceMisconfigured
from tessera.workflows.keys import create_key
from tests.conftest import SHARED_DATA, _require
from tests.service_fixtures import Api, consent, lead_ids, leads

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
    return fit_calibration(
        genuine,
        impostor,
        modality="finger",
        algorithm="synthetic-for-tests",
        data={"dataset": "synthetic (tests only)", "capture": capture},
        score_range=(0.0, 1.0),
    )


def finger_templates_indexed(instance) -> int:
    return sum(matcher.index.size() for matcher in instance.matchers if matcher.modality == "finger")


def count_templates(instance, modality: str = "finger") -> int:
    with instance.sessions() as session:
        return session.scalar(select(func.count()).select_from(Template).where(Template.modality == modality))


class FingerApi(Api):
    def enrol_finger(self, subject_id, image, position=POSITION, capture="contact", headers=None):
        return self.client.post(
            f"/v1/subjects/{subject_id}/fingers",
            files={"image": ("finger.png", image, "image/png")},
            data={"finger_position": str(position), "capture": capture},
            headers=headers or self.headers["enroller"],
        )

    def finger_form(self, fingers, face=None):
        files = [("finger_image", (f"f{i}.png", image, "image/png")) for i, (image, _, _) in enumerate(fingers)]
        if face is not None:
            files.append(("image", ("face.jpg", face, "image/jpeg")))
        data = {"finger_position": [str(p) for _, p, _ in fingers], "capture": [c for _, _, c in fingers]}
        return files, data

    def verify_fingers(self, subject_id, fingers, face=None):
        files, data = self.finger_form(fingers, face)
        return self.client.post(
            "/v1/verify", data={"subject_id": subject_id, **data}, files=files, headers=self.headers["verifier"]
        )

    def identify_fingers(self, gallery_id, fingers, face=None):
        files, data = self.finger_form(fingers, face)
        return self.client.post(
            "/v1/identify",
            data={"gallery_id": gallery_id, "purpose": "deduplicate", "case_reference": "CASE-F", **data},
            files=files,
            headers=self.headers["enroller"],
        )


@pytest.fixture(scope="module")
def prints():
    """Bytes of FVC2004 DB1_B impression ``finger_n`` (e.g. ``"101_2"``)."""
    _require(FVC, "FVC2004 DB1_B (finger/fvc2004/DB1_B)")
    return lambda name: _require(FVC / f"{name}.png", f"FVC2004 DB1_B {name}.png").read_bytes()


ROLES = ("admin", "enroller", "verifier", "auditor", "adjudicator")


@dataclass(frozen=True)
class Enrolled:
    """A closed instance's data folder that tests start from, and what is in it; never opened by a test.

    Attributes
    ----------
    data_dir : Path
    secrets : Mapping of str to str
        An API key of each role, by role.
    gallery : str
    people : Mapping of str to str
        Subject ids (``a``, ``b``, ``c``) and template ids (``a_template``, ``b_template``).
    """

    data_dir: Path
    secrets: Mapping[str, str]
    gallery: str
    people: Mapping[str, str]


def open_copy(enrolled: Enrolled, folder: Path, **options) -> tuple[Instance, FingerApi]:
    """A fresh instance on a copy of ``enrolled``'s data folder (no finger calibration unless given)."""
    shutil.copytree(enrolled.data_dir, folder)
    # The keys live beside the database folder, not in it (Settings.resolved_key_dir): copy them too.
    shutil.copytree(Settings(data_dir=enrolled.data_dir).resolved_key_dir, Settings(data_dir=folder).resolved_key_dir)
    options.setdefault("finger_calibrations", {})
    instance = Instance.open(Settings(data_dir=folder), **options)
    headers = {role: {"Authorization": f"Bearer {secret}"} for role, secret in enrolled.secrets.items()}
    return instance, FingerApi(TestClient(create_app(instance), raise_server_exceptions=False), headers)


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, prints) -> Enrolled:
    """People ``a`` (right index FVC2004 DB1_B 101_1) and ``b`` (102_1), consented to face and finger, in a
    gallery open to 1:N."""
    folder = tmp_path_factory.mktemp("fingers") / "var"
    instance = Instance.open(Settings(data_dir=folder), finger_calibrations={})
    try:
        secrets = {role: create_key(instance, "test", role).secret for role in ROLES}
        api = FingerApi(
            TestClient(create_app(instance), raise_server_exceptions=False),
            {role: {"Authorization": f"Bearer {secret}"} for role, secret in secrets.items()},
        )
        gallery = api.gallery("Finger gallery", score_disclosure="exact")  # these tests check the scores
        people = {
            name: api.subject(gallery, modalities=("face", "finger"), signed_by=f"Person {name}") for name in ("a", "b")
        }
        for name, impression in (("a", "101_1"), ("b", "102_1")):
            response = api.enrol_finger(people[name], prints(impression))
            assert response.status_code == 201, response.text
            people[f"{name}_template"] = response.json()["template_id"]
    finally:
        instance.close()
    return Enrolled(folder, MappingProxyType(secrets), gallery, MappingProxyType(people))


@pytest.fixture(scope="module")
def enrolled_with_c(enrolled, tmp_path_factory, prints, lfw_person) -> Enrolled:
    """:func:`enrolled`, and person ``c``: a face (LFW Colin Powell) and a right index (FVC2004 DB1_B 103_1)."""
    instance, api = open_copy(enrolled, tmp_path_factory.mktemp("fingers_c") / "var")
    try:
        subject = api.subject(enrolled.gallery, modalities=("face", "finger"), signed_by="Person c")
        assert api.enrol(subject, lfw_person("Colin_Powell", 2)[0]).status_code == 201
        assert api.enrol_finger(subject, prints("103_1")).status_code == 201
    finally:
        instance.close()
    folder = instance.settings.data_dir
    return Enrolled(folder, enrolled.secrets, enrolled.gallery, MappingProxyType({**enrolled.people, "c": subject}))


@pytest.fixture(scope="module")
def c_probes(prints, lfw_person) -> tuple[bytes, bytes]:
    """Mates of person ``c``'s references: another photo of the face, another impression of the finger."""
    return lfw_person("Colin_Powell", 2)[1], prints("103_2")


def _service(enrolled: Enrolled, folder: Path) -> Iterator[tuple[Instance, FingerApi, str, dict]]:
    instance, api = open_copy(enrolled, folder)
    yield instance, api, enrolled.gallery, dict(enrolled.people)
    instance.close()


@pytest.fixture
def service(enrolled, tmp_path):
    """This test's own instance, api, gallery and people, on a copy of :func:`enrolled`."""
    yield from _service(enrolled, tmp_path / "var")


@pytest.fixture
def service_with_c(enrolled_with_c, tmp_path):
    """This test's own instance, api, gallery and people, on a copy of :func:`enrolled_with_c`."""
    yield from _service(enrolled_with_c, tmp_path / "var")


def test_enrol_stores_a_sealed_finger_template(service, prints):
    instance, api, _, people = service
    with instance.sessions() as session:
        template = session.get(Template, people["a_template"])
        assert (template.modality, template.finger_position, template.capture) == ("finger", POSITION, "contact")
        assert template.algorithm.startswith("tessera-finger-")
        assert b"FMR\x00" not in template.ciphertext  # the ISO record is sealed, not stored in clear
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "finger.enrol")).first()
    assert json.loads(entry.body)["details"]["finger_position"] == POSITION
    assert finger_templates_indexed(instance) == 2


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
    monkeypatch.setattr(instance.matchers.finger("contact"), "calibration", synthetic_calibration())
    mate = prints("101_2")
    answer = api.verify_fingers(people["a"], [(mate, POSITION, "contact")]).json()
    assert answer["decision"] == "match" and answer["fmr"] == pytest.approx(1e-3, rel=0.2)
    assert answer["fmr_detail"]["basis"] in ("measured", "upper_bound", "extrapolated")
    search = api.identify_fingers(gallery, [(mate, POSITION, "contact")])
    assert search.status_code == 200, search.text
    body = search.json()
    assert lead_ids(api.client, search) == [people["a"]] and body["status"] == "sent_for_review"
    candidate = leads(api.client, body["search_id"])[0]
    assert candidate["modality"] == "finger" and candidate["finger_position"] == POSITION and candidate["fmr"] > 0
    assert body["gallery_size"] == 2 and body["modalities_compared"] == ["finger"]
    assert body["probes"][0]["finger_position"] == POSITION
    assert body["probes"][0]["search_method"] == "exact"  # a shard of 2 is below finger_prefilter_above
    # Another finger position is another search: nobody has a left thumb enrolled.
    other = api.identify_fingers(gallery, [(mate, 6, "contact")]).json()
    assert other["status"] == "no_likely_match" and other["gallery_size"] == 0


def test_a_prefiltered_identify_still_finds_the_mate_and_says_it_was_prefiltered(enrolled, tmp_path, prints):
    """An index that shortlists 1 of the 2 right index fingers (the prefilter's code decides which) still puts
    the mate first; the answer and the audit entry say the search was prefiltered."""
    shortlist_one = PrefilterConfig(shortlist_fraction=0.5, min_shortlist=1, exact_up_to=0)

    def factory(key, scorer):
        return FingerIndex(key, scorer, shortlist_one) if isinstance(scorer, MccScorer) else default_index(key, scorer)

    instance, api = open_copy(enrolled, tmp_path / "var", index_factory=factory)
    try:
        instance.matchers.finger("contact").calibration = synthetic_calibration()
        search = api.identify_fingers(enrolled.gallery, [(prints("101_2"), POSITION, "contact")])
        assert search.status_code == 200, search.text
        body = search.json()
        assert body["probes"][0]["search_method"] == "prefilter"
        assert lead_ids(api.client, search) == [enrolled.people["a"]]
        with instance.sessions() as session:
            entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "finger.identify")).all()[-1]
        assert json.loads(entry.body)["details"]["probes"][0]["search_method"] == "prefilter"
    finally:
        instance.close()


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
    before = (count_templates(instance), finger_templates_indexed(instance))
    image = lfw_person("Colin_Powell", 1)[0] if picture == "face" else jpeg(WALL)
    response = api.client.post(
        f"/v1/subjects/{people['b']}/fingers",
        files={"image": ("x.jpg", image, "image/jpeg")},
        data={"finger_position": str(POSITION), "capture": "contactless"},
        headers=api.headers["enroller"],
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "not_a_finger" and error["message"]
    if picture == "face":
        assert "face" in error["message"]
    assert (count_templates(instance), finger_templates_indexed(instance)) == before


def test_finger_fields_are_checked(service, prints):
    _, api, _, people = service
    response = api.enrol_finger(people["a"], b"not read", position=11)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_finger_position"
    assert "finger_position" in response.json()["error"]["message"]
    response = api.enrol_finger(people["a"], b"not read", capture="video")
    assert response.status_code == 422 and "capture" in response.json()["error"]["message"]
    response = api.client.post(
        "/v1/verify",
        data={"subject_id": people["a"], "finger_position": ["2", "3"], "capture": "contact"},
        files=[("finger_image", ("f.png", b"x", "image/png"))],
        headers=api.headers["verifier"],
    )
    assert response.status_code == 422 and "finger_position" in response.json()["error"]["message"]
    response = api.client.post(
        "/v1/verify",
        data={"subject_id": people["a"], "finger_position": "11", "capture": "contact"},
        files=[("finger_image", ("f.png", b"x", "image/png"))],
        headers=api.headers["verifier"],
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_finger_position"
    assert "finger_position" in response.json()["error"]["message"]
    response = api.client.post("/v1/verify", data={"subject_id": people["a"]}, headers=api.headers["verifier"])
    assert response.status_code == 422 and "image" in response.json()["error"]["message"]


def test_the_service_matches_fingers_with_the_mcc_config_of_its_finger_config(enrolled, tmp_path, prints):
    from tessera.capture.decode import decode_image
    from tessera.finger.pipeline import FingerTemplate, extract_finger
    from tessera.index.finger import PrefilterScorer
    from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccConfig, mcc_score, mcc_template

    matcher = MccConfig(relaxation=False)
    instance, api = open_copy(enrolled, tmp_path / "var", finger_config=FingerConfig(mcc=matcher))
    try:
        contact = instance.matchers.finger("contact")
        scorer = contact.index.scorer  # the prefilter (the default) re-ranks with an exact MCC scorer
        exact = scorer.mcc if isinstance(scorer, PrefilterScorer) else scorer
        assert contact.mcc == exact.config == matcher  # the index compares with it too
        mate, reference = prints("101_2"), prints("101_1")
        score = api.verify_fingers(enrolled.people["a"], [(mate, POSITION, "contact")]).json()["score"]
        probe = extract_finger(decode_image(mate), "contact").minutiae
        stored = FingerTemplate.from_bytes(extract_finger(decode_image(reference), "contact").to_bytes()).minutiae
        expected = mcc_score(mcc_template(probe, matcher), mcc_template(stored, matcher), matcher)
        default = mcc_score(mcc_template(probe), mcc_template(stored), DEFAULT_MCC_CONFIG)
        assert score == pytest.approx(expected, abs=1e-6) and abs(expected - default) > 1e-3
    finally:
        instance.close()


def test_finger_needs_consent_to_the_finger_modality(service, prints):
    instance, api, gallery, _ = service
    face_only = api.subject(gallery, modalities=("face",), signed_by="Face only")
    before = count_templates(instance)
    response = api.enrol_finger(face_only, prints("104_1"))
    assert count_templates(instance) == before
    assert response.status_code == 409 and response.json()["error"]["code"] == "modality_not_consented"
    with instance.sessions() as session:
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "finger.enrol", AuditEntry.subject_id == face_only)
        ).one()
    assert refused.outcome == "refused:modality_not_consented"


def unscaled_fmr(instance, body):
    """The fused FMR of an answer's LLR without the safety factor, from the models directly."""
    from tessera.match.fusion import fused_fmr, model_kind

    models = [instance.fusion_models[model_kind(name)] for name in body["fusion"]["modalities"]]
    return fused_fmr(body["fusion"]["llr"], models)[0]


def test_multimodal_verify_fuses_face_and_finger(service_with_c, c_probes, prints):
    instance, api, gallery, people = service_with_c
    subject, (face, finger) = people["c"], c_probes
    face_only = api.verify(subject, face).json()
    # A face-only request answers as it always did: the face decision at the top, nothing fused.
    assert face_only["decision"] == "match" and face_only["threshold"] > 0 and face_only["fused"] is False
    assert face_only["modalities_compared"] == ["face"] and face_only["fusion"] is None
    # Face and two fingers, one of which the subject has no reference of: fused on what is there, the other listed.
    response = api.verify_fingers(subject, [(finger, POSITION, "contact"), (finger, 3, "contact")], face=face)
    assert response.status_code == 200, response.text
    both = response.json()
    assert both["modalities_compared"] == ["face", "finger"] and both["fused"] is True
    assert both["decision"] == "match" and both["score"] == both["fusion"]["llr"] >= both["threshold"]
    fusion = both["fusion"]
    assert fusion["modalities"] == ["face", "finger:right-index"]
    assert set(fusion["per_modality_llr"]) == {"face", "finger:right-index"} and all(
        v > 0 for v in fusion["per_modality_llr"].values()
    )
    assert [(m["modality"], m["reason"]) for m in fusion["missing"]] == [("finger:right-middle", "no_reference")]
    assert fusion["not_fused"] == [] and "independent" in fusion["assumption"]
    assert fusion["target_fmr"] == instance.settings.verify_target_fmr and fusion["fmr_safety_factor"] == 10.0
    assert (
        both["fmr"] < face_only["fmr"] / 100
    )  # the finger mate makes a false match far less likely than the face alone
    assert both["fmr_detail"]["basis"] in ("estimated", "upper_bound")
    by_modality = {(c["modality"], c["finger_position"]): c for c in both["comparisons"]}
    face_comparison = by_modality[("face", None)]
    assert face_comparison["algorithm"] == instance.matchers.default_face.algorithm  # SFace, fused with its own model
    assert (
        face_comparison["score"] >= face_comparison["threshold"] and by_modality[("finger", POSITION)]["score"] > 0.05
    )
    # The same face with another person's right index: a lower fused LLR, and its FMR is the convolution's times 10.
    other = api.verify_fingers(subject, [(prints("101_2"), POSITION, "contact")], face=face).json()
    assert other["fused"] is True and other["fusion"]["llr"] < fusion["llr"] - 5
    assert other["fusion"]["per_modality_llr"]["finger:right-index"] < 0
    assert other["fmr"] == pytest.approx(10 * unscaled_fmr(instance, other), rel=1e-9)
    with instance.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "multimodal.verify")).all()
    assert [e.outcome for e in entries][-2:] == ["match", other["decision"]]
    assert json.loads(entries[0].body)["details"]["missing"] == ["finger:right-middle"]


def test_scores_without_a_fusion_model_are_not_fused(service):
    from tessera.workflows.comparisons import Comparison, combine

    instance, _, _, _ = service
    face = Comparison("face", "match", 0.95, 0.93, 1e-3, None, True, "dlib")
    phones = [
        Comparison(
            "finger",
            "inconclusive",
            0.3,
            None,
            None,
            None,
            False,
            "mcc",
            finger_position=p,
            capture="contactless",
            reason="not_calibrated",
        )
        for p in (2, 3)
    ]
    for comparisons in (phones, [face, phones[0]]):
        answer = combine(comparisons, instance)
        assert answer.decision == "inconclusive" and answer.reason == "not_fused" and answer.fused is False
        assert {item["reason"] for item in answer.fusion["not_fused"]} == {"no_fusion_model"}
        assert all("contactless" in item["message"] for item in answer.fusion["not_fused"])
        assert "contactless" in answer.message


def test_fusion_models_of_another_algorithm_are_refused(service, tmp_path):
    from dataclasses import replace

    instance, _, _, _ = service
    models = dict(instance.fusion_models)
    assert set(models) == {"face", "finger"} and models["finger"].algorithm == "tessera-mcc-lssr-2"
    with pytest.raises(InstanceMisconfigured, match=r"its fusion model describes 'tessera-mcc-old' scores"):
        Instance.open(
            Settings(data_dir=tmp_path / "other"),
            finger_calibrations={},
            fusion_models={"face": models["face"], "finger": replace(models["finger"], algorithm="tessera-mcc-old")},
        )


class AlwaysDraw:
    """A random source whose every draw is 0: a catch trial is slipped into every case."""

    def random(self) -> float:
        return 0.0


def test_multimodal_identify_ranks_the_mate_first_on_the_fused_score(service_with_c, c_probes, monkeypatch):
    from tessera.store.models import CaseCandidate

    instance, api, gallery, people = service_with_c
    subject, (face, finger) = people["c"], c_probes
    monkeypatch.setattr(instance, "random", AlwaysDraw())
    response = api.identify_fingers(gallery, [(finger, POSITION, "contact")], face=face)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fused"] is True and body["modalities_compared"] == ["face", "finger"]
    fusion = body["fusion"]
    assert fusion["modalities"] == ["face", "finger:right-index"] and fusion["fmr_safety_factor"] == 10.0
    assert body["gallery_size"] == 3  # everyone with a face or a right index: a and b have no face, c has both
    assert fusion["target_fmr"] == pytest.approx(
        instance.settings.identify_expected_false_candidates / body["gallery_size"]
    )
    assert body["threshold"] == fusion["threshold_llr"] and body["threshold_fmr"] <= fusion["target_fmr"]
    found = leads(api.client, body["search_id"])
    first = found[0]
    assert first["subject_id"] == subject and first["rank"] == 1 and first["modality"] == "fused"
    assert first["fmr"] < fusion["target_fmr"] and first["score"] >= body["threshold"]
    assert set(first["scores"]) == {"face", "finger:right-index"} and first["missing"] == []
    assert people["a"] not in {c["subject_id"] for c in found}  # a non-mate finger and no face: no candidate
    assert [p["threshold"] for p in body["probes"]] == [None, None]
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "multimodal.identify")).all()[-1]
    details = json.loads(entry.body)["details"]
    assert (
        details["fused"] is True and len(details["probes"]) == 2 and details["candidates"][0]["subject_id"] == subject
    )
    with instance.sessions() as session:
        rows = session.scalars(select(CaseCandidate).where(CaseCandidate.search_id == body["search_id"])).all()
    catch = [row for row in rows if row.catch_trial]
    assert (
        len(catch) == 1 and catch[0].subject_id in (people["a"], people["b"]) and catch[0].rank is None
    )  # a known non-mate
    assert next(row for row in rows if row.rank == 1).score == pytest.approx(first["score"])


def test_a_fused_search_scores_every_subject_a_probe_brings_on_every_probe(
    service_with_c, c_probes, prints, monkeypatch
):
    """With a pool of one, each probe brings only its best subject; each of those still gets every score.

    With c's face and a's finger, the face brings c (the only face) and the finger a (its mate): c's finger
    score and a's (missing) face come from the other probe's index. With c's face and finger, only c is
    brought, and nobody of the pool has a finger alone. Either way N, the subjects per combination of
    modalities and their thresholds are the store's whole gallery's: the answer is the one a pool of every
    subject gives.
    """
    instance, api, gallery, people = service_with_c
    subject, (face, finger) = people["c"], c_probes
    for other_finger, brought in ((prints("101_2"), {subject, people["a"]}), (finger, {subject})):
        probe = ([(other_finger, POSITION, "contact")], face)
        everyone = api.identify_fingers(gallery, *probe).json()
        with monkeypatch.context() as patch:
            patch.setattr(instance, "settings", instance.settings.model_copy(update={"identify_fusion_pool": 1}))
            pooled = api.identify_fingers(gallery, *probe).json()
        assert pooled["fused"] is True and pooled["gallery_size"] == everyone["gallery_size"] == 3
        assert pooled["fusion"]["thresholds_by_modalities"] == everyone["fusion"]["thresholds_by_modalities"]
        assert all(row["threshold_llr"] is not None for row in pooled["fusion"]["thresholds_by_modalities"])
        assert pooled["expected_false_candidates"] == pytest.approx(everyone["expected_false_candidates"])
        assert [p["gallery_size"] for p in pooled["probes"]] == [p["gallery_size"] for p in everyone["probes"]]
        assert [p["gallery_size"] for p in pooled["probes"]] == [1, 3]
        pooled_leads, everyone_leads = (leads(api.client, body["search_id"]) for body in (pooled, everyone))
        found = {c["subject_id"]: c for c in pooled_leads}
        assert set(found) <= brought
        assert subject in found and set(found[subject]["scores"]) == {"face", "finger:right-index"}
        assert list(found) == [c["subject_id"] for c in everyone_leads]
        for mine, theirs in zip(pooled_leads, everyone_leads):  # MCC of other members: rounding
            assert mine["score"] == pytest.approx(theirs["score"], rel=1e-5)
            assert mine["scores"] == pytest.approx(theirs["scores"], rel=1e-5)


def test_identify_without_a_finger_model_ranks_on_the_product_of_the_rates(service_with_c, c_probes, monkeypatch):
    """Fingers with a calibration but no fusion model beside a face: each subject's face rate and fingers' rate
    multiplied (tessera/workflows/search_rates.py), not each probe searched alone."""
    instance, api, gallery, people = service_with_c
    subject, (face, finger) = people["c"], c_probes
    monkeypatch.setattr(instance.matchers.finger("contact"), "fusion_model", None)
    monkeypatch.setattr(instance.matchers.finger("contact"), "calibration", synthetic_calibration())
    body = api.identify_fingers(gallery, [(finger, POSITION, "contact")], face=face).json()
    assert body["fused"] is True and body["fusion"]["rule"] == "product_of_rates"
    assert body["fusion"]["modalities"] == ["face", "finger:right-index"]
    assert [(p["modality"], p["finger_position"]) for p in body["probes"]] == [("face", None), ("finger", POSITION)]
    target = body["fusion"]["target_fmr"]
    assert body["expected_false_candidates"] == pytest.approx(body["gallery_size"] * target)
    found = {c["subject_id"]: c for c in leads(api.client, body["search_id"])}
    assert found[subject]["modality"] == "fused" and found[subject]["fmr"] <= target
    assert set(found[subject]["p_values"]) == {"face", "fingers"}


def test_subject_access_lists_finger_captures_without_templates(service):
    _, api, _, people = service
    body = api.client.get(f"/v1/subjects/{people['a']}/export", headers=api.headers["enroller"]).json()
    fingers = [c for c in body["captures"] if c["modality"] == "finger"]
    assert fingers and all(c["finger_position"] == POSITION and c["capture"] == "contact" for c in fingers)
    assert "FMR" not in json.dumps(body) and "ciphertext" not in json.dumps(body)


def test_transparency_counts_finger_captures_and_finger_searches(service, prints, monkeypatch):
    from tessera.workflows.transparency import SEARCH_ACTIONS, counts_per_period

    instance, api, gallery, people = service
    mate = [(prints("101_2"), POSITION, "contact")]
    assert api.identify_fingers(gallery, mate).status_code == 409  # no calibration: refused, and audited
    assert api.verify_fingers(people["a"], mate).json()["decision"] == "inconclusive"
    monkeypatch.setattr(instance.matchers.finger("contact"), "calibration", synthetic_calibration())
    assert api.identify_fingers(gallery, mate).status_code == 200
    assert api.verify_fingers(people["a"], mate).json()["decision"] == "match"
    with instance.sessions() as session:
        searches = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(SEARCH_ACTIONS))).all()
    assert [(entry.action, entry.outcome) for entry in searches] == [
        ("finger.identify", "refused:not_calibrated"),
        ("finger.identify", "candidates:1"),
    ]
    totals = {}
    for counts in counts_per_period(instance, period="year").values():
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    assert totals["finger_captures"] == 2  # a's and b's
    assert totals["refusals.not_calibrated"] == 1
    assert totals["searches.deduplicate"] == 1
    assert totals["verifications.inconclusive"] == totals["verifications.match"] == 1


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
        assert finger_templates_indexed(reopened) == finger_templates_indexed(instance) == count_templates(instance)
    finally:
        reopened.close()


def test_erasure_removes_finger_templates_and_index_entries(service, prints, monkeypatch):
    instance, api, gallery, people = service
    monkeypatch.setattr(instance.matchers.finger("contact"), "calibration", synthetic_calibration())
    before = finger_templates_indexed(instance)
    with instance.sessions() as session:
        held = session.scalar(select(func.count()).select_from(Template).where(Template.subject_id == people["a"]))
    assert held >= 1
    receipt = api.client.delete(f"/v1/subjects/{people['a']}", headers=api.headers["enroller"]).json()
    assert receipt["templates_erased"] == held and receipt["index_entries_removed"] == held
    assert finger_templates_indexed(instance) == before - held
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Template).where(Template.subject_id == people["a"])) == 0
    body = api.identify_fingers(gallery, [(prints("101_2"), POSITION, "contact")]).json()
    assert people["a"] not in [c["subject_id"] for c in leads(api.client, body["search_id"])]


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
    run(
        "consent-text",
        "add",
        str(tmp_path / "consent.txt"),
        "--version",
        "2026-01",
        "--gallery",
        gallery,
        "--modality",
        "face",
        "--modality",
        "finger",
        "--purpose",
        "verify",
        "--purpose",
        "deduplicate",
    )
    subject = (
        run(
            "enrol",
            "--gallery-id",
            gallery,
            "--consent-file",
            str(tmp_path / "consent.json"),
            "--finger",
            str(tmp_path / "101_1.png"),
            "--finger-position",
            "2",
            "--capture",
            "contact",
        )
        .strip()
        .splitlines()[-1]
    )
    banded = json.loads(
        run(
            "verify", subject, "--finger", str(tmp_path / "101_2.png"), "--finger-position", "2", "--capture", "contact"
        )
    )
    assert banded["score_disclosure"] == "banded" and banded["comparisons"][0]["score"] is None
    run("gallery", "score-disclosure", gallery, "exact", "--reason", "finger evaluation")
    answer = json.loads(
        run(
            "verify", subject, "--finger", str(tmp_path / "101_2.png"), "--finger-position", "2", "--capture", "contact"
        )
    )
    assert answer["modalities_compared"] == ["finger"] and answer["comparisons"][0]["score"] > 0.2


def synthetic_cylinders(seed: int):
    """MCC cylinders of made-up minutiae (no extraction): enough to exercise the finger index's filters."""
    from tessera.match.mcc import mcc_template
    from tessera.match.minutiae import Minutiae

    rng = np.random.default_rng(seed)
    count = 40
    return mcc_template(
        Minutiae(
            points=rng.uniform(60, 300, (count, 2)),
            angles=rng.uniform(0, 6.28, count),
            kinds=np.ones(count, np.uint8),
            qualities=np.full(count, 0.8),
        )
    )
