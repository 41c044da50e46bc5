"""Finger templates in the store: position and capture kind kept beside the sealed ISO record, on every backend."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tessera.store.db import create_store_engine, migrate, session_factory
from tessera.store.models import Consent, Gallery, Subject, Template
from tessera.store.vault import Vault

RECORD = b"FMR\x00 20\x00" + bytes(range(40))  # stands for an ISO/IEC 19794-2 record: any bytes round-trip


def test_finger_template_round_trip(database_url, tmp_path):
    engine = create_store_engine(database_url)
    migrate(engine)
    vault = Vault.open(
        master_key_file=tmp_path / "master.key", subject_key_dir=tmp_path / "keys", case_key_dir=tmp_path / "cases"
    )
    s1 = str(uuid.uuid4())
    now = datetime.now(UTC)
    vault.create_subject(s1)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        session.add(Gallery(id="g1", name="g", purpose="p", created_at=now, created_by="t"))
        session.add(Subject(id=s1, gallery_id="g1", created_at=now, created_by="t", last_interaction_at=now))
        session.add(
            Consent(
                subject_id=s1,
                purposes=["verify"],
                modalities=["finger"],
                text_version="1",
                text_sha256="0" * 64,
                signed_by="x",
                signed_at=now,
                expires_at=now + timedelta(days=1),
                recorded_at=now,
            )
        )
        session.add(
            Template(
                id="t1",
                subject_id=s1,
                modality="finger",
                algorithm="tessera-finger-1+x",
                ciphertext=vault.seal_template(
                    template_id="t1", subject_id=s1, algorithm="tessera-finger-1+x", payload=RECORD
                ),
                quality={"score": 50},
                capture_sha256="a" * 64,
                created_at=now,
                finger_position=7,
                capture="contactless",
            )
        )
        session.add(
            Template(
                id="t2",
                subject_id=s1,
                modality="face",
                algorithm="f",
                ciphertext=b"",
                quality={},
                capture_sha256="b" * 64,
                created_at=now,
            )
        )
    with sessions() as session:
        finger, face = session.get(Template, "t1"), session.get(Template, "t2")
        assert (finger.finger_position, finger.capture) == (7, "contactless")
        assert (face.finger_position, face.capture) == (None, None)
        assert RECORD not in finger.ciphertext and vault.open_template(finger) == RECORD
        assert session.scalars(select(Template.id).where(Template.finger_position == 7)).all() == ["t1"]
    engine.dispose()
