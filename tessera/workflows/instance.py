"""An open Tessera instance: store, key store, indexes and calibrations together."""

from __future__ import annotations

import logging
import random as random_module
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tessera.face.embed import algorithm_id
from tessera.face.pipeline import DEFAULT_FACE_CONFIG, FaceConfig
from tessera.finger.config import CAPTURES, DEFAULT_FINGER_CONFIG, FingerConfig
from tessera.finger.template import FingerTemplate
from tessera.governance import audit
from tessera.governance.vocabulary import Modality
from tessera.index.base import IndexEntry, SearchIndex
from tessera.index.exact import ExactIndex
from tessera.index.fingers import ExactFingerIndex, FingerEntry, FingerSearchIndex
from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH, Calibration, load_calibration
from tessera.match.fusion import FusionConfig, ScoreModel, load_fusion_models
from tessera.match.mcc import ALGORITHM as MATCHER
from tessera.match.mcc import MccConfig, mcc_template
from tessera.settings import Settings
from tessera.store.crypto import DecryptionError, load_or_create_master_key
from tessera.store.db import create_store_engine, migrate, session_factory
from tessera.store.keystore import FileKeyStore, KeyMissing, KeyStore
from tessera.store.models import AuditEntry, Consent, Subject, Template
from tessera.store.templates import open_payload, open_template

log = logging.getLogger("tessera")

CALIBRATIONS_DIR = DEFAULT_FACE_CALIBRATION_PATH.parent
"""Where the calibration files shipped with Tessera live; finger ones are ``finger-*.json``."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """Who asks: an API key (by id, never its secret) or a local operator."""

    id: str
    role: str

    def __str__(self) -> str:
        return self.id


@dataclass
class Instance:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    """Sessions for reading; every change goes through :meth:`transaction`."""
    write_sessions: sessionmaker[Session]
    keys: KeyStore
    case_keys: KeyStore
    """Per-search keys sealing probe photos kept for review; destroyed when the case closes."""
    index: SearchIndex
    face_calibration: Calibration
    face_config: FaceConfig = DEFAULT_FACE_CONFIG
    finger_index: FingerSearchIndex = field(default_factory=ExactFingerIndex)
    finger_calibrations: dict[str, Calibration] = field(default_factory=dict)
    """Finger score calibrations by capture kind (``contact``, ``contactless``); a kind missing here has no
    calibration, and its scores are reported with their false-match rate unknown."""
    finger_config: FingerConfig = DEFAULT_FINGER_CONFIG
    fusion_models: dict[str, ScoreModel] = field(default_factory=dict)
    """Score-fusion models by kind (``face``, ``finger``), loaded once at start
    (:func:`tessera.match.fusion.load_fusion_models`);
    only those whose algorithm is the one behind this instance's scores (see :meth:`fusion_problem`)."""
    fusion_refused: dict[str, str] = field(default_factory=dict)
    """Why a fusion model found at start is not used, by kind (its algorithm is not the one behind the scores)."""
    clock: Callable[[], datetime] = utc_now
    random: random_module.Random = field(default_factory=random_module.SystemRandom)
    """Draws catch trials; tests give it a seed."""
    _anchor_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        index: SearchIndex | None = None,
        face_config: FaceConfig = DEFAULT_FACE_CONFIG,
        finger_index: FingerSearchIndex | None = None,
        finger_calibrations: dict[str, Calibration] | None = None,
        finger_config: FingerConfig = DEFAULT_FINGER_CONFIG,
        fusion_models: dict[str, ScoreModel] | None = None,
        build_index: bool = True,
        announce: bool = False,
    ) -> Instance:
        """Open (creating on first use) the instance described by ``settings``.

        Runs pending migrations, loads the master key and the calibrations
        (fingers: ``finger_calibrations``, else every ``finger-*.json`` in
        :data:`CALIBRATIONS_DIR`; see :func:`load_finger_calibrations`) and
        the score-fusion models (``fusion_models``, else the shipped ones;
        a model of another algorithm than the scores' is kept out, see
        :meth:`fusion_problem`),
        removes data keys left by enrolments that crashed before their
        commit, and (``build_index``) rebuilds the search index from the
        store. ``announce`` records the start and its configuration in the
        audit trail (the service does; one-off commands do not).
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url
        engine = create_store_engine(url)
        migrate(engine)
        read_engine = create_store_engine(url, for_writing=False) if url.startswith("sqlite") else engine
        master_key = load_or_create_master_key(settings.resolved_master_key_file)
        instance = cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(read_engine),
            write_sessions=session_factory(engine),
            keys=FileKeyStore(settings.resolved_key_store_dir, master_key),
            case_keys=FileKeyStore(settings.data_dir / "case-keys", master_key),
            index=index or ExactIndex(),
            face_calibration=load_calibration(settings.face_calibration_path),
            face_config=face_config,
            finger_index=finger_index or ExactFingerIndex(finger_config.mcc),
            finger_calibrations=load_finger_calibrations()
            if finger_calibrations is None
            else dict(finger_calibrations),
            finger_config=finger_config,
            clock=clock,
        )
        instance._check_fusion_models(load_fusion_models() if fusion_models is None else dict(fusion_models))
        # Fail at start, not at the first verification, if the calibration cannot back the configured rate.
        instance.face_calibration.threshold_for_fmr(settings.verify_target_fmr)
        instance._recover(build_index)
        if announce:
            instance._announce()
        return instance

    def close(self) -> None:
        self.engine.dispose()
        self.sessions.kw["bind"].dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction; on commit, the audit anchor moves to the newest entry."""
        with self.write_sessions() as session:
            with session.begin():
                yield session
            newest: AuditEntry | None = session.info.get("newest_audit_entry")
        if newest is not None:
            with self._anchor_lock:
                audit.write_anchor(self.settings.audit_anchor_file, newest.seq, newest.entry_hash)

    def finger_calibration(self, capture: str) -> Calibration | None:
        """The calibration of finger scores between two ``capture`` templates, or None when there is none."""
        return self.finger_calibrations.get(capture)

    @property
    def fusion_algorithms(self) -> dict[str, str]:
        """The algorithm behind each fusable kind of score: the face templates', and the MCC matcher's for fingers."""
        return {"face": algorithm_id(self.face_config.embedder, self.face_config.flip_augment), "finger": MATCHER}

    def _check_fusion_models(self, models: dict[str, ScoreModel]) -> None:
        expected = self.fusion_algorithms
        for kind, model in models.items():
            if kind not in expected:
                self.fusion_refused[kind] = f"a fusion model of {kind!r} scores, which Tessera does not produce"
            elif model.algorithm != expected[kind]:
                self.fusion_refused[kind] = (
                    f"the {kind} fusion model describes {model.algorithm!r} scores, but this instance's {kind} scores "
                    f"come from {expected[kind]!r}; fusing them would state a false-match rate for the wrong scores"
                )
            else:
                self.fusion_models[kind] = model
        for kind, problem in self.fusion_refused.items():
            log.warning("fusion model for %s not used: %s", kind, problem)

    def fusion_problem(self, kind: str) -> str | None:
        """Why scores of ``kind`` (``face``, ``finger``) cannot be fused, or None when they can."""
        if kind in self.fusion_models:
            return None
        return (
            self.fusion_refused.get(kind)
            or f"no fusion model of {kind} scores is installed (tessera/match/calibrations/fusion-*.json)"
        )

    @property
    def fusion_config(self) -> FusionConfig:
        return FusionConfig(fmr_safety_factor=self.settings.fusion_fmr_safety_factor)

    def record(self, session: Session, actor: Actor | str, action: str, outcome: str, **fields) -> AuditEntry:
        """Append an audit entry in ``session``'s transaction."""
        entry = audit.append(session, at=self.clock(), actor=str(actor), action=action, outcome=outcome, **fields)
        session.info["newest_audit_entry"] = entry
        return entry

    def record_alone(self, actor: Actor | str, action: str, outcome: str, **fields) -> AuditEntry:
        """Append an audit entry in a transaction of its own (for refusals: nothing else changes)."""
        with self.transaction() as session:
            return self.record(session, actor, action, outcome, **fields)

    def _recover(self, build_index: bool) -> None:
        with self.sessions() as session:
            subject_ids = set(session.scalars(select(Subject.id)))
        self.keys.sweep(keep=subject_ids)
        if not build_index:
            return
        with self.sessions() as session:
            rows = session.execute(
                select(Template, Consent, Subject.gallery_id)
                .join(Subject, Template.subject_id == Subject.id)
                .join(Consent, Consent.subject_id == Subject.id)
            ).all()
        loaded = 0
        for template, consent, gallery_id in rows:
            try:
                if template.modality == Modality.FINGER:
                    finger = FingerTemplate.from_bytes(open_payload(self.keys, template))
                    self.finger_index.add(
                        finger_index_entry(template, consent, gallery_id, finger, self.finger_config.mcc)
                    )
                elif template.algorithm != self.face_calibration.algorithm:
                    log.warning(
                        "face template %s was made by %s, not %s; left out of the index (re-enrol the subject)",
                        template.id,
                        template.algorithm,
                        self.face_calibration.algorithm,
                    )
                    continue
                else:
                    self.index.add(index_entry(template, consent, gallery_id, open_template(self.keys, template)))
            except (KeyMissing, DecryptionError) as error:
                log.error("template %s cannot be opened (%s); left out of the index", template.id, error)
                continue
            loaded += 1
        log.info("indexes rebuilt from the store: %d templates", loaded)

    def _announce(self) -> None:
        with self.transaction() as session:
            self.record(
                session,
                "system",
                "instance.start",
                "ok",
                details={
                    "templates_indexed": self.index.size() + self.finger_index.size(),
                    "finger_templates_indexed": self.finger_index.size(),
                    "face_algorithm": self.face_calibration.algorithm,
                    "face_calibration": {
                        "created": self.face_calibration.created,
                        "n_impostor": self.face_calibration.n_impostor,
                        "data": self.face_calibration.data.get("dataset"),
                    },
                    "finger_calibrations": {
                        capture: {
                            "algorithm": c.algorithm,
                            "created": c.created,
                            "n_impostor": c.n_impostor,
                            "data": c.data.get("dataset"),
                        }
                        for capture, c in sorted(self.finger_calibrations.items())
                    },
                    "fusion_models": {
                        kind: {"algorithm": m.algorithm, "created": m.created, "n_impostor": m.n_impostor}
                        for kind, m in sorted(self.fusion_models.items())
                    },
                    "fusion_models_refused": dict(self.fusion_refused),
                    "fusion_fmr_safety_factor": self.settings.fusion_fmr_safety_factor,
                    "verify_target_fmr": self.settings.verify_target_fmr,
                    "identify_expected_false_candidates": self.settings.identify_expected_false_candidates,
                },
            )


def index_entry(template: Template, consent: Consent, gallery_id: str, vector) -> IndexEntry:
    return IndexEntry(
        template_id=template.id,
        subject_id=template.subject_id,
        gallery_id=gallery_id,
        modality=template.modality,
        vector=vector,
        purposes=frozenset(consent.purposes),
        consent_expires_at=consent.expires_at,
    )


def finger_index_entry(
    template: Template, consent: Consent, gallery_id: str, finger: FingerTemplate, matcher: MccConfig
) -> FingerEntry:
    """The finger index's entry for a stored template: its cylinders, built with the instance's ``matcher``
    (``finger_config.mcc``, the configuration the index compares with)."""
    return FingerEntry(
        template_id=template.id,
        subject_id=template.subject_id,
        gallery_id=gallery_id,
        finger_position=template.finger_position,
        capture=template.capture,
        template=mcc_template(finger.minutiae, matcher),
        purposes=frozenset(consent.purposes),
        consent_expires_at=consent.expires_at,
    )


def load_finger_calibrations(directory: Path = CALIBRATIONS_DIR) -> dict[str, Calibration]:
    """Every finger calibration in ``directory`` (files ``finger-*.json``), by the capture kind it describes.

    A calibration describes comparisons of two ``contact`` or two
    ``contactless`` templates: its ``data["capture"]`` says which, else its
    file name (``contactless`` in it: contactless; otherwise contact). No file
    for a kind means no calibration: finger scores of that kind are reported
    with their false-match rate unknown, never with an invented one.

    Raises
    ------
    ValueError
        A file is not a finger calibration, names an unknown capture kind, or
        two files describe the same kind.
    """
    found: dict[str, Calibration] = {}
    for path in sorted(Path(directory).glob("finger-*.json")):
        calibration = load_calibration(path)
        if calibration.modality != Modality.FINGER:
            raise ValueError(
                f"{path}: 'modality' must be 'finger' for a finger-*.json file; got {calibration.modality!r}"
            )
        capture = calibration.data.get("capture") or ("contactless" if "contactless" in path.stem else "contact")
        if capture not in CAPTURES:
            raise ValueError(f"{path}: data.capture must be one of {CAPTURES}; got {capture!r}")
        if capture in found:
            raise ValueError(f"{path}: a second calibration of {capture} finger scores; keep one file per capture kind")
        found[capture] = calibration
    return found
