"""The gallery size N is counted by the store: consented, unexpired subjects holding a comparable template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.store.counts import TemplateKind, count_searchable, count_searchable_by_kinds
from tessera.store.db import create_store_engine, migrate, session_factory
from tessera.store.models import Consent, Gallery, Subject, Template

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FACE_ALGORITHM = "dlib-resnet-v1/5pt-flip/1"
OLD_FACE_ALGORITHM = "dlib-resnet-v1/5pt/1"
EXTRACTOR = "tessera-finger-1+leader"

FACE = ("face", FACE_ALGORITHM, None, None)
OLD_FACE = ("face", OLD_FACE_ALGORITHM, None, None)
RIGHT_INDEX = ("finger", EXTRACTOR, 2, "contact")
RIGHT_INDEX_OLDER_EXTRACTOR = ("finger", "tessera-finger-0+x", 2, "contact")
RIGHT_INDEX_CONTACTLESS = ("finger", EXTRACTOR, 2, "contactless")
RIGHT_MIDDLE = ("finger", EXTRACTOR, 3, "contact")

SUBJECTS = {
    # subject: (gallery, purposes, expires in, templates)
    "face-only": ("g1", ["deduplicate"], timedelta(days=30), [FACE]),
    "two-faces": ("g1", ["verify", "deduplicate"], timedelta(days=30), [FACE, FACE]),
    "face-and-index": ("g1", ["deduplicate"], timedelta(days=30), [FACE, RIGHT_INDEX]),
    "index-only": ("g1", ["deduplicate"], timedelta(days=30), [RIGHT_INDEX, RIGHT_MIDDLE]),
    "index-older-extractor": ("g1", ["deduplicate"], timedelta(days=30), [RIGHT_INDEX_OLDER_EXTRACTOR]),
    "contactless": ("g1", ["deduplicate"], timedelta(days=30), [RIGHT_INDEX_CONTACTLESS]),
    "old-face": ("g1", ["deduplicate"], timedelta(days=30), [OLD_FACE]),
    "verify-only": ("g1", ["verify"], timedelta(days=30), [FACE, RIGHT_INDEX]),
    "expired": ("g1", ["deduplicate"], timedelta(seconds=-1), [FACE, RIGHT_INDEX]),
    "expires-now": ("g1", ["deduplicate"], timedelta(0), [FACE]),
    "no-template": ("g1", ["deduplicate"], timedelta(days=30), []),
    "other-gallery": ("g2", ["deduplicate"], timedelta(days=30), [FACE, RIGHT_INDEX]),
}


@pytest.fixture
def sessions(database_url):
    engine = create_store_engine(database_url)
    migrate(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        for gallery in ("g1", "g2"):
            session.add(Gallery(id=gallery, name=gallery, purpose="p", created_at=NOW, created_by="t"))
        for subject, (gallery, purposes, expires_in, templates) in SUBJECTS.items():
            session.add(
                Subject(id=subject, gallery_id=gallery, created_at=NOW, created_by="t", last_interaction_at=NOW)
            )
            session.add(
                Consent(
                    subject_id=subject,
                    purposes=purposes,
                    modalities=["face", "finger"],
                    text_version="1",
                    text_sha256="0" * 64,
                    signed_by="x",
                    signed_at=NOW,
                    expires_at=NOW + expires_in,
                    recorded_at=NOW,
                )
            )
            for number, (modality, algorithm, position, capture) in enumerate(templates):
                session.add(
                    Template(
                        id=f"{subject}-{number}",
                        subject_id=subject,
                        modality=modality,
                        algorithm=algorithm,
                        ciphertext=b"sealed",
                        quality={},
                        capture_sha256=f"{number:064d}",
                        created_at=NOW,
                        finger_position=position,
                        capture=capture,
                    )
                )
    yield factory
    engine.dispose()


def test_faces_count_subjects_of_the_gallery_consented_unexpired_with_a_face_of_the_algorithm(sessions):
    with sessions() as session:

        def faces(**overrides) -> int:
            arguments = {
                "gallery_id": "g1",
                "algorithm": FACE_ALGORITHM,
                "modality": "face",
                "purpose": "deduplicate",
                "now": NOW,
            }
            return count_searchable(session, **{**arguments, **overrides})

        assert faces() == 3  # face-only, two-faces (counted once), face-and-index
        assert faces(algorithm=OLD_FACE_ALGORITHM) == 1
        assert faces(purpose="verify") == 2  # two-faces, verify-only
        assert faces(now=NOW - timedelta(seconds=2)) == 5  # expired and expires-now had not expired yet
        assert faces(gallery_id="g2") == 1
        assert faces(gallery_id="nowhere") == 0
        assert faces(purpose="marketing") == 0


def test_fingers_count_by_position_and_capture_whatever_the_extractor(sessions):
    with sessions() as session:

        def fingers(position: int, capture: str, algorithm: str | None = None) -> int:
            return count_searchable(
                session,
                gallery_id="g1",
                algorithm=algorithm,
                modality="finger",
                purpose="deduplicate",
                now=NOW,
                finger_position=position,
                capture=capture,
            )

        assert fingers(2, "contact") == 3  # face-and-index, index-only, index-older-extractor
        assert fingers(2, "contact", algorithm=EXTRACTOR) == 2
        assert fingers(2, "contactless") == 1
        assert fingers(3, "contact") == 1
        assert fingers(7, "contact") == 0


def test_subjects_are_counted_by_the_combination_of_probe_kinds_they_hold(sessions):
    face = TemplateKind("face", FACE_ALGORITHM)
    right_index = TemplateKind("finger", None, 2, "contact")
    right_middle = TemplateKind("finger", None, 3, "contact")
    with sessions() as session:
        combinations = count_searchable_by_kinds(
            session, gallery_id="g1", kinds=[face, right_index, right_middle], purpose="deduplicate", now=NOW
        )
        assert combinations == {
            frozenset({0}): 2,  # face-only, two-faces
            frozenset({0, 1}): 1,  # face-and-index
            frozenset({1, 2}): 1,  # index-only
            frozenset({1}): 1,  # index-older-extractor
        }
        assert count_searchable_by_kinds(session, gallery_id="g1", kinds=[], purpose="deduplicate", now=NOW) == {}
        # Two probes of one finger: both positions are held by the same subjects.
        twice = count_searchable_by_kinds(
            session, gallery_id="g1", kinds=[right_index, right_index], purpose="deduplicate", now=NOW
        )
        assert twice == {frozenset({0, 1}): 3}
