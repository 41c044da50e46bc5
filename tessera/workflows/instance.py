"""An open Tessera instance: the store, the vault and the matchers (each with its calibration and index) together.

:meth:`Instance.open` refuses to start (:class:`InstanceMisconfigured`)
when the configuration, a calibration, a fusion model and the stored
templates disagree: a calibration or fusion model of another algorithm
than the scores it would be applied to would state a false-match rate for
the wrong scores, and templates of an algorithm Tessera does not know mean
the service was pointed at the wrong database or run with older code.
It also refuses (:class:`AuditChainBroken`), before anything is appended,
when the audit chain does not verify against its anchor: an older copy of
the database was restored, or the log was edited. An operator who
restored on purpose says so (``tessera audit acknowledge-restore``, or
``acknowledge_restore``), which is audited and lets the instance start.
Templates of a known algorithm this instance does not serve (an older face
algorithm) are kept, left out of the indexes, and counted at start.
"""

from __future__ import annotations

import logging
import random as random_module
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tessera.errors import Conflict
from tessera.finger.config import DEFAULT_FINGER_CONFIG, FingerConfig
from tessera.governance import audit
from tessera.governance.witness import Witnessed, load_or_create_signing_key, read_witness
from tessera.index.finger import FingerIndex
from tessera.index.finger_prefilter import DEFAULT_PREFILTER_CONFIG
from tessera.match.calibration import Calibration
from tessera.match.fusion import FusionConfig, ScoreModel
from tessera.match.matchers import (
    IndexFactory,
    Matcher,
    Matchers,
    build_matchers,
    check_matchers,
    default_index,
    is_known_algorithm,
)
from tessera.match.mcc import MccScorer
from tessera.settings import Settings
from tessera.store.db import create_store_engine, migrate, session_factory
from tessera.store.models import AuditEntry, Subject, Template, Tombstone
from tessera.store.private import private_file, private_folder, private_umask
from tessera.store.vault import Vault
from tessera.workflows.indexing import OutboxCursor

log = logging.getLogger("tessera")


class InstanceMisconfigured(RuntimeError):
    """The instance cannot serve: its configuration, calibrations, fusion models or stored templates disagree."""


class AuditChainBroken(RuntimeError):
    """The instance will not start: its audit chain does not verify against the anchor kept outside the database.

    ``check`` holds what :func:`tessera.governance.audit.verify_chain` found.
    """

    def __init__(self, message: str, check: audit.ChainCheck) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class RestoreAcknowledgement:
    """An operator's statement that an older copy of the database was restored on purpose.

    Parameters
    ----------
    actor
        Who acknowledges (``cli:<user>``); recorded in the audit entry.
    reason
        Why (a ticket, the backup's date); recorded in the audit entry.
    """

    actor: str
    reason: str


def utc_now() -> datetime:
    return datetime.now(UTC)


def configured_index_factory(settings: Settings, vault: Vault) -> IndexFactory:
    """The index backends the settings name: faces exact in process or in Milvus (``index``), fingers in process,
    exact or prefiltered (``finger_search``, :func:`finger_index_factory`).

    With Milvus, face templates go to one collection per face matcher, rotated
    by each gallery's secret rotation from ``vault`` (:mod:`tessera.index.milvus`).
    """
    fingers = finger_index_factory(settings)
    if settings.index == "exact":
        return fingers
    from tessera.index.milvus import MilvusIndex, milvus_config, open_milvus_client
    from tessera.workflows.rotation_renewal import gallery_rotations

    config = milvus_config(settings.index)
    client = open_milvus_client(config.uri)
    rotation = gallery_rotations(vault, config.rotation_generation)

    def factory(key: str, scorer: Any) -> Any:
        if key.startswith("face:"):
            return MilvusIndex(key, client, rotation, config)
        return fingers(key, scorer)

    return factory


def finger_index_factory(settings: Settings) -> IndexFactory:
    """Faces as :func:`~tessera.match.matchers.default_index`; fingers as ``settings.finger_search`` says: a
    :class:`~tessera.index.finger.FingerIndex` that scans a shard exactly up to ``finger_prefilter_above``
    eligible templates and shortlists above, or the exact scan (:class:`~tessera.index.exact.ExactIndex`)."""
    if settings.finger_search == "exact":
        return default_index
    config = replace(DEFAULT_PREFILTER_CONFIG, exact_up_to=settings.finger_prefilter_above)

    def factory(key: str, scorer: Any) -> Any:
        if isinstance(scorer, MccScorer):
            return FingerIndex(key, scorer, config)
        return default_index(key, scorer)

    return factory


@dataclass(frozen=True)
class Actor:
    """Who asks: an API key (by id, never its secret) or a local operator."""

    id: str
    role: str
    galleries: frozenset[str] | None = None
    """The galleries the key is limited to; None: every gallery (admin keys, global keys, local operators)."""

    def __str__(self) -> str:
        return self.id


@dataclass
class Instance:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    """Sessions for reading; every change goes through :meth:`transaction`."""
    write_sessions: sessionmaker[Session]
    vault: Vault
    """Seals and opens templates, kept photos and case probes; the only holder of data keys."""
    matchers: Matchers
    """One matcher per algorithm served, each with its calibration, fusion model and index."""
    clock: Callable[[], datetime] = utc_now
    random: random_module.Random = field(default_factory=random_module.SystemRandom)
    """Draws catch trials; tests give it a seed."""
    unserved_templates: dict[str, int] = field(default_factory=dict)
    """Stored templates of a known algorithm this instance does not serve, by ``modality algorithm``."""
    _anchor_lock: threading.Lock = field(default_factory=threading.Lock)
    _key_sweep: threading.Thread | None = None
    outbox: OutboxCursor = field(default_factory=OutboxCursor)
    """How far this process's indexes have applied the index outbox (:mod:`tessera.workflows.indexing`)."""

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        finger_config: FingerConfig = DEFAULT_FINGER_CONFIG,
        finger_calibrations: dict[str, Calibration] | None = None,
        fusion_models: dict[str, ScoreModel] | None = None,
        index_factory: IndexFactory | None = None,
        build_index: bool = True,
        announce: bool = False,
        acknowledge_restore: RestoreAcknowledgement | None = None,
    ) -> Instance:
        """Open (creating on first use) the instance described by ``settings``.

        Runs pending migrations, opens the vault, builds the matchers of
        ``settings.face_algorithms`` and the finger sensors (each with the index
        ``index_factory`` makes; default: as ``settings.index`` says,
        :func:`configured_index_factory`) with their
        calibrations and fusion models (``finger_config`` tunes the finger
        pipeline and its matcher; ``finger_calibrations`` by sensor
        and ``fusion_models`` by kind replace the shipped files, for tests
        and evaluations), checks that they agree with each other and with
        the stored templates (else :class:`InstanceMisconfigured`), destroys
        the data keys of erased subjects still on disk, (``build_index``)
        brings the indexes in step with the store
        (:func:`tessera.workflows.indexing.reconcile`), and then removes, in a
        background thread that :meth:`close` waits for, data keys left by
        enrolments that crashed before their commit. ``announce`` records
        the start and its configuration in the audit trail (the service
        does; one-off commands do not).

        Before any of that touches the data, the audit chain is verified
        against its anchor; when it does not verify, :class:`AuditChainBroken`
        is raised, at this and every later start, unless
        ``acknowledge_restore`` accepts a restored older database: then an
        ``audit.restore_acknowledged`` entry records the anchor, the
        database's head, who and why, and re-anchors the chain. A chain that
        is broken inside the database (an edited or missing entry) cannot be
        acknowledged. ``acknowledge_restore`` on a chain that verifies
        raises :class:`tessera.errors.Conflict`.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        private_folder(settings.data_dir)
        _move_keys_out_of_the_data_dir(settings)
        private_folder(settings.resolved_key_dir)
        with private_umask():
            vault = Vault.open(
                master_key_file=settings.resolved_master_key_file,
                subject_key_dir=private_folder(settings.resolved_key_store_dir),
                case_key_dir=private_folder(settings.case_key_dir),
                snapshot_key_dir=private_folder(settings.snapshot_key_dir),
                rotation_key_dir=private_folder(settings.rotation_key_dir),
            )
        matchers = build_matchers(
            settings.face_algorithms,
            finger_config=finger_config,
            finger_calibrations=finger_calibrations,
            fusion_models=fusion_models,
            index_factory=configured_index_factory(settings, vault) if index_factory is None else index_factory,
        )
        problems = check_matchers(matchers)
        if problems:
            raise InstanceMisconfigured("Tessera will not start: " + "; ".join(problems))
        default = matchers.default_face.calibration
        if default is not None:  # fail at start, not at the first verification
            default.threshold_for_fmr(settings.verify_target_fmr)
        _make_database_files_private(settings)
        url = settings.resolved_database_url
        engine = create_store_engine(url)
        migrate(engine)
        read_engine = create_store_engine(url, for_writing=False) if url.startswith("sqlite") else engine
        instance = cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(read_engine),
            write_sessions=session_factory(engine),
            vault=vault,
            matchers=matchers,
            clock=clock,
        )
        instance._check_audit_chain(acknowledge_restore)
        instance._check_stored_templates()
        instance._recover(build_index)
        if announce:
            instance._announce()
        return instance

    def close(self) -> None:
        if self._key_sweep is not None:
            self._key_sweep.join()
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

    def record(self, session: Session, actor: Actor | str, action: str, outcome: str, **fields: Any) -> AuditEntry:
        """Append an audit entry in ``session``'s transaction."""
        entry = audit.append(session, at=self.clock(), actor=str(actor), action=action, outcome=outcome, **fields)
        session.info["newest_audit_entry"] = entry
        return entry

    def record_alone(self, actor: Actor | str, action: str, outcome: str, **fields: Any) -> AuditEntry:
        """Append an audit entry in a transaction of its own (for refusals: nothing else changes)."""
        with self.transaction() as session:
            return self.record(session, actor, action, outcome, **fields)

    # -- what the matchers' files say ------------------------------------------------------------------

    @property
    def face_calibration(self) -> Calibration | None:
        """The default face algorithm's calibration."""
        return self.matchers.default_face.calibration

    def finger_calibration(self, capture: str) -> Calibration | None:
        """The calibration of finger scores between two ``capture`` templates, or None when there is none."""
        return self.matchers.finger(capture).calibration

    @property
    def fusion_models(self) -> dict[str, ScoreModel]:
        """The fusion models by kind: the default face algorithm's and the contact finger matcher's."""
        models = {}
        for kind, matcher in (("face", self.matchers.default_face), ("finger", self.matchers.finger("contact"))):
            if matcher.fusion_model is not None:
                models[kind] = matcher.fusion_model
        return models

    def fusion_problem(self, matcher: Matcher) -> str | None:
        """Why ``matcher``'s scores cannot be fused, or None when they can."""
        if matcher.fusion_model is not None:
            return None
        if matcher.sensor == "contactless":
            return "no fusion model of contactless finger scores exists (the finger model is of contact scans)"
        return f"no fusion model of {matcher.key} scores is installed (tessera/match/calibrations/fusion-*.json)"

    @property
    def fusion_config(self) -> FusionConfig:
        return FusionConfig(fmr_safety_factor=self.settings.fusion_fmr_safety_factor)

    # -- start --------------------------------------------------------------------------------------------

    def witness(self) -> Witnessed | None:
        """What the witness folder says (``audit_witness_dir``), or None when the instance has no witness."""
        folder = self.settings.audit_witness_dir
        if folder is None:
            return None
        key = load_or_create_signing_key(self.settings.resolved_audit_witness_key_file)
        return read_witness(folder, key.public_key())

    def verify_audit(self) -> audit.ChainCheck:
        """The audit chain checked against its anchor and, when there is one, its witness."""
        with self.sessions() as session:
            return audit.verify_chain(session, self.settings.audit_anchor_file, witness=self.witness())

    def _check_audit_chain(self, acknowledgement: RestoreAcknowledgement | None) -> None:
        """Refuse a chain that does not verify against its anchor, unless ``acknowledgement`` accepts a restore.

        A rollback below a witnessed checkpoint is refused even with an acknowledgement: the witness is kept
        where the database's administrators cannot write, and only its keeper can set newer checkpoints aside.
        """
        anchor_file = self.settings.audit_anchor_file
        check = self.verify_audit()
        if check.ok:
            if acknowledgement is not None:
                raise Conflict(
                    f"the audit chain verifies against its anchor {anchor_file}: there is nothing to acknowledge"
                )
            return
        found = "; ".join(check.problems)
        anchor = audit.read_anchor(anchor_file)
        if acknowledgement is None:
            raise AuditChainBroken(
                f"Tessera will not start: the audit chain in {self.settings.data_dir} does not verify against its "
                f"anchor {anchor_file}: {found}. If an older copy of the database was restored on purpose, "
                'acknowledge it with `tessera audit acknowledge-restore --reason "..."` (it is audited); '
                "otherwise the log was tampered with: investigate before starting",
                check,
            )
        with self.write_sessions() as session:  # the chain inside the database and its witness, without the anchor
            internal = audit.verify_chain(session, witness=self.witness())
        if not internal.ok:
            raise AuditChainBroken(
                f"Tessera will not start: the audit chain in {self.settings.data_dir} is broken inside the database "
                f"or below its witness ({'; '.join(internal.problems)}), which cannot be acknowledged as a restore: "
                "restore an intact backup of the database (a witnessed rollback is accepted only once the witness's "
                "keeper has set the newer checkpoints aside)",
                check,
            )
        with self.transaction() as session:
            entry = audit.append_restore_acknowledgement(
                session,
                at=self.clock(),
                actor=acknowledgement.actor,
                reason=acknowledgement.reason,
                anchor=anchor,
                check=check,
            )
            session.info["newest_audit_entry"] = entry
        log.warning(
            "%s acknowledged a restored audit chain (%s) in entry %d: %s",
            acknowledgement.actor,
            found,
            entry.seq,
            acknowledgement.reason,
        )

    def _check_stored_templates(self) -> None:
        """Refuse to serve templates of an algorithm Tessera does not know; count the known but unserved ones."""
        with self.sessions() as session:
            kinds = session.execute(
                select(Template.modality, Template.algorithm, Template.capture, func.count()).group_by(
                    Template.modality, Template.algorithm, Template.capture
                )
            ).all()
        unknown = []
        for modality, algorithm, capture, count in kinds:
            if self.matchers.of_template(modality, algorithm, capture) is not None:
                continue
            if not is_known_algorithm(modality, algorithm):
                unknown.append(f"{count} {modality} templates of {algorithm!r}")
                continue
            self.unserved_templates[f"{modality} {algorithm}"] = (
                self.unserved_templates.get(f"{modality} {algorithm}", 0) + count
            )
            log.warning(
                "%d %s templates of %s are not read by any matcher this instance serves; they are left out of the "
                "index (re-enrol those subjects)",
                count,
                modality,
                algorithm,
            )
        if unknown:
            raise InstanceMisconfigured(
                "Tessera will not start: the store holds "
                + ", ".join(unknown)
                + ", which no algorithm Tessera knows made (wrong database, or older code than the data)"
            )

    def _recover(self, build_index: bool) -> None:
        """Destroy the keys erasures left, fill the indexes (``build_index``), then sweep orphan keys behind.

        The sweep of keys left by creations that crashed before their commit
        lists every subject and every key file (a million of each at scale), so
        it runs in a background thread once the indexes are filled: the service
        answers meanwhile, and :meth:`close` waits for it.
        """
        from tessera.workflows.indexing import reconcile, skip_to_now

        self._destroy_keys_of_erased()
        if build_index:
            # The snapshot is of the in-process indexes; an external engine (Milvus) keeps its own entries.
            in_process = self.settings.index_snapshot and self.settings.index == "exact"
            added = reconcile(self, self.settings.index_snapshot_dir if in_process else None)
            log.info("indexes in step with the store: %d templates added", added)
        else:  # a one-off command: its indexes take only its own changes
            skip_to_now(self)
        self._key_sweep = threading.Thread(target=self._sweep_orphan_keys, name="tessera-key-sweep", daemon=True)
        self._key_sweep.start()

    def _destroy_keys_of_erased(self) -> None:
        """Destroy the data key of every erased subject (one with a tombstone) that still has one.

        The key goes whatever its age (a restored key folder, or a crash of an
        older build between an erasure's commit and the key's destruction).
        Costs one file lookup per tombstone, not a listing of the key folder.
        """
        with self.sessions() as session:
            tombstones = list(session.scalars(select(Tombstone.subject_id)))
        erased = self.vault.subjects_with_keys(tombstones)
        destroyed = sum(self.vault.erase_subject(subject_id) for subject_id in sorted(erased))
        if destroyed:
            log.warning("destroyed %d data keys of erased subjects left in the key folder", destroyed)

    def _sweep_orphan_keys(self) -> None:
        """Destroy keys of no subject, older than the sweep's grace (:meth:`~tessera.store.vault.Vault.sweep`)."""
        try:
            with self.sessions() as session:
                subject_ids = set(session.scalars(select(Subject.id)))
            swept = self.vault.sweep(keep=subject_ids)
            if swept:
                log.warning("destroyed %d data keys of subjects never committed", swept)
        except Exception:  # the next start sweeps again
            log.exception("sweeping the data keys of subjects never committed failed")

    def _announce(self) -> None:
        with self.transaction() as session:
            self.record(
                session,
                "system",
                "instance.start",
                "ok",
                details={
                    "templates_indexed": self.matchers.indexed(),
                    "face_algorithm": self.matchers.default_face.algorithm,
                    "matchers": {matcher.key: _described(matcher) for matcher in self.matchers},
                    "unserved_templates": dict(self.unserved_templates),
                    "fusion_fmr_safety_factor": self.settings.fusion_fmr_safety_factor,
                    "verify_target_fmr": self.settings.verify_target_fmr,
                    "identify_expected_false_candidates": self.settings.identify_expected_false_candidates,
                },
            )


def _move_keys_out_of_the_data_dir(settings: Settings) -> None:
    """Move the keys an older build kept inside ``data_dir`` to ``key_dir`` (a rename: nothing is copied).

    A backup of the database folder must not hold the keys that would revive the people erased since.
    """
    moves = [(settings.data_dir / "case-keys", settings.case_key_dir)]
    if settings.master_key_file is None:
        moves.append((settings.data_dir / "master.key", settings.resolved_master_key_file))
    if settings.key_store_dir is None:
        moves.append((settings.data_dir / "keys", settings.resolved_key_store_dir))
    for old, new in moves:
        if not old.exists():
            continue
        if new.exists():
            raise InstanceMisconfigured(
                f"Tessera will not start: keys are both in {old} (inside the database folder, where older builds "
                f"kept them) and in {new}; keep one (the one this database was last used with) and remove the other"
            )
        private_folder(new.parent)
        try:
            old.rename(new)
        except OSError as error:
            raise InstanceMisconfigured(
                f"Tessera will not start: {old} is inside the database folder and could not be moved to {new} "
                f"({error.strerror}); move it there by hand (stopped service), then start again"
            ) from error
        log.warning("moved %s out of the database folder to %s", old, new)


def _make_database_files_private(settings: Settings) -> None:
    """Create the SQLite file mode 0600 before SQLite does (its -wal and -shm files take its mode); tighten old ones."""
    database = settings.sqlite_file
    if database is None:
        return
    with private_umask():
        database.parent.mkdir(parents=True, exist_ok=True)
    private_file(database)
    for companion in (database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        if companion.exists():
            private_file(companion)


def _described(matcher: Matcher) -> dict[str, object]:
    """What the start-up audit entry records of a matcher: its calibration, fusion model and index."""
    calibration, model = matcher.calibration, matcher.fusion_model
    return {
        "score_kind": matcher.score_kind.value,
        "calibration": None
        if calibration is None
        else {
            "algorithm": calibration.algorithm,
            "created": calibration.created,
            "n_impostor": calibration.n_impostor,
            "data": calibration.data.get("dataset"),
        },
        "fusion_model": None
        if model is None
        else {"algorithm": model.algorithm, "created": model.created, "n_impostor": model.n_impostor},
        "templates_indexed": matcher.index.size(),
    }
