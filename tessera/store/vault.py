"""The vault: everything Tessera seals, and the keys that seal it, behind one door.

Workflows hand the vault rows and payloads; they never see a data key and
never call :func:`~tessera.store.crypto.seal`. The vault holds two key stores
(:mod:`tessera.store.keystore`), in separate folders:

- **subject keys**, one per subject, made with the subject and destroyed when
  it is erased (crypto-shredding). They seal the subject's template payloads
  (a face embedding, :mod:`tessera.face.codec`; a finger's ISO/IEC 19794-2
  record, :class:`tessera.finger.template.FingerTemplate`) and the photo
  kept beside a template: a face's reference photo for reviewers
  (:mod:`tessera.governance.reference_photos`), or the whole capture when
  ``keep_raw_images`` is on;
- **case keys**, one per 1:N search whose probe photo is kept for review,
  destroyed when the case closes;
- **snapshot keys**, one per segment of the sealed index snapshot
  (:mod:`tessera.workflows.snapshot`): subjects are split into
  :data:`SNAPSHOT_SEGMENTS` segments by the first two hex digits of their id.
  A segment's key is replaced each time the segment is written, and destroyed
  with the key of any subject of the segment who is erased, so a copy of a
  snapshot written before an erasure cannot be opened with the keys left.

It also derives, from the master key, the secret rotation that protects a
gallery's face templates in an external index
(:meth:`Vault.template_rotation`, :mod:`tessera.index.rotation`), and keeps
the random seeds of the rotations that renew it (**rotation keys**, one per
gallery and renewal, destroyed when the next renewal is complete).

Every sealed item is bound by its associated data to where it belongs, so a
ciphertext moved to another row, subject, algorithm or case does not open.
The formats below are what stores already hold: they must not change.

``tessera-template|<template id>|<subject id>|<algorithm>``
    a template payload, under its subject's key;
``tessera-image|<subject id>|<template id>``
    the photo a template was made from, under its subject's key;
``tessera-image|<search id>|probe``
    the probe photo of a search case, under the case's key;
``tessera-index-snapshot|<segment>``
    a segment of the index snapshot, under the segment's key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera.capture.still import clean_jpeg
from tessera.index.rotation import SEED_BYTES, orthonormal_rotation
from tessera.store.crypto import (
    DecryptionError,
    SealedDataUnreadable,
    load_or_create_master_key,
    open_sealed,
    opener,
    seal,
)
from tessera.store.keystore import FileKeyStore, KeyMissing, KeyStore
from tessera.store.models import Template

TemplateRow = tuple[str, str, str, bytes]
"""What opening a template needs of its row: (template id, subject id, algorithm, ciphertext)."""

__all__ = [
    "DecryptionError",
    "KeyMissing",
    "SealedDataUnreadable",
    "SNAPSHOT_SEGMENTS",
    "Vault",
    "image_associated_data",
    "snapshot_segment",
    "template_associated_data",
]

ROTATION_ROOT_INFO = b"tessera-template-rotation-root"
"""HKDF info of the key from which every gallery's template rotation is derived."""
SNAPSHOT_SEGMENTS = 256
"""How many segments the index snapshot is split into, each under its own key (by a subject id's first two hex
digits: an erasure makes 1/256 of the snapshot unreadable, which the next start rebuilds from the store)."""

CASE_PROBE = "probe"
"""The item id of a search case's probe photo in its associated data."""


def template_associated_data(template_id: str, subject_id: str, algorithm: str) -> bytes:
    """What a template payload is bound to: ``tessera-template|<template id>|<subject id>|<algorithm>``."""
    return f"tessera-template|{template_id}|{subject_id}|{algorithm}".encode()


_HEX_DIGITS = set("0123456789abcdef")


def snapshot_segment(subject_id: str) -> int:
    """The snapshot segment of ``subject_id``, 0-255: its first two hex digits (Tessera ids are UUID4 strings).

    Raises
    ------
    ValueError
        ``subject_id`` does not start with two hex digits.
    """
    prefix = subject_id[:2]
    if len(prefix) != 2 or not set(prefix) <= _HEX_DIGITS:
        raise ValueError(f"subject_id must start with two lowercase hex digits (a UUID); got {subject_id!r}")
    return int(prefix, 16)


def snapshot_associated_data(segment: int) -> bytes:
    """What a snapshot segment is bound to: ``tessera-index-snapshot|<segment>``."""
    return f"tessera-index-snapshot|{segment}".encode()


def _snapshot_key_id(segment: int) -> str:
    if not 0 <= segment < SNAPSHOT_SEGMENTS:
        raise ValueError(f"segment must be in 0-{SNAPSHOT_SEGMENTS - 1}; got {segment}")
    return f"{segment:08x}"


def image_associated_data(owner_id: str, item_id: str) -> bytes:
    """What a kept photo is bound to: ``tessera-image|<owner id>|<item id>``.

    The owner is the subject and the item its template for an enrolment
    photo; the owner is the search and the item ``probe`` for a case's probe.
    """
    return f"tessera-image|{owner_id}|{item_id}".encode()


def evidence_associated_data(subject_id: str) -> bytes:
    """What a consent's evidence image is bound to: ``tessera-consent-evidence|<subject id>``."""
    return f"tessera-consent-evidence|{subject_id}".encode()


class Vault:
    """Seals and opens templates, kept photos and case probes; owns the keys that do it.

    Parameters
    ----------
    subject_keys : KeyStore
        One data key per subject.
    case_keys : KeyStore
        One data key per search case whose probe photo is kept.

    Notes
    -----
    Opening raises :class:`SealedDataUnreadable`: precisely
    :class:`KeyMissing` when the key is gone (erased subject, closed case),
    :class:`DecryptionError` when the data does not authenticate (tampered,
    or moved to another row).
    """

    def __init__(
        self,
        subject_keys: KeyStore,
        case_keys: KeyStore,
        snapshot_keys: KeyStore | None = None,
        rotation_root: bytes | None = None,
        rotation_keys: KeyStore | None = None,
    ) -> None:
        self._subject_keys = subject_keys
        self._case_keys = case_keys
        self._snapshot_keys = snapshot_keys
        self._rotation_root = rotation_root
        self._rotation_keys = rotation_keys

    @classmethod
    def open(
        cls,
        *,
        master_key_file: Path,
        subject_key_dir: Path,
        case_key_dir: Path,
        snapshot_key_dir: Path | None = None,
        rotation_key_dir: Path | None = None,
    ) -> Vault:
        """The vault of files: the master key at ``master_key_file`` (created on first use) wraps every data key,
        kept as files in ``subject_key_dir``, ``case_key_dir``, ``snapshot_key_dir`` (None: this vault seals no
        index snapshot) and ``rotation_key_dir`` (None: this vault renews no template rotation)."""
        folders = [("subject_key_dir", subject_key_dir), ("case_key_dir", case_key_dir)]
        if snapshot_key_dir is not None:
            folders.append(("snapshot_key_dir", snapshot_key_dir))
        if rotation_key_dir is not None:
            folders.append(("rotation_key_dir", rotation_key_dir))
        for number, (name, folder) in enumerate(folders):
            for other_name, other in folders[number + 1 :]:
                if folder.resolve() == other.resolve():
                    raise ValueError(
                        f"{name} and {other_name} must be two folders; both are {folder} "
                        "(a sweep of subject keys would destroy the others)"
                    )
        master_key = load_or_create_master_key(master_key_file)
        rotation_root = HKDF(algorithm=hashes.SHA256(), length=SEED_BYTES, salt=None, info=ROTATION_ROOT_INFO).derive(
            master_key
        )
        return cls(
            FileKeyStore(subject_key_dir, master_key),
            FileKeyStore(case_key_dir, master_key),
            None if snapshot_key_dir is None else FileKeyStore(snapshot_key_dir, master_key),
            rotation_root,
            None if rotation_key_dir is None else FileKeyStore(rotation_key_dir, master_key),
        )

    # -- subjects ----------------------------------------------------------------------------------------------

    def create_subject(self, subject_id: str) -> None:
        """Make and store durably the data key of a new subject, before its row is committed."""
        self._subject_keys.create(subject_id)

    def create_subjects(self, subject_ids: list[str]) -> None:
        """Make and store durably the data keys of many new subjects at once (a bulk import, a benchmark)."""
        self._subject_keys.create_many(subject_ids)

    def discard_new_subject(self, subject_id: str) -> bool:
        """Destroy the data key of a subject whose creation failed before its commit (it sealed nothing, and no
        snapshot holds it, so its snapshot segment keeps its key). True if there was a key."""
        return self._subject_keys.destroy(subject_id)

    def erase_subject(self, subject_id: str) -> bool:
        """Destroy the subject's data key, then its snapshot segment's key: its templates and photos are unreadable
        in every copy of the database and of the index snapshot (crypto-shredding). True if there was a subject key.

        The subject's key goes first: a snapshot segment written concurrently checks afterwards that each of its
        subjects still holds a key (:meth:`subjects_with_keys`), and destroys its own key if one does not.
        """
        destroyed = self._subject_keys.destroy(subject_id)
        if self._snapshot_keys is not None:
            self._snapshot_keys.destroy(_snapshot_key_id(snapshot_segment(subject_id)))
        return destroyed

    def subjects_with_keys(self, among: Sequence[str] | None = None) -> set[str]:
        """The subjects that hold a data key (of ``among``, when given; else all)."""
        return self._subject_keys.owner_ids() if among is None else self._subject_keys.holding(among)

    def holds_subject_key(self, subject_id: str) -> bool:
        """Whether the subject's data key is here and unwraps (False for a subject erased after the database's
        backup was taken, or a key folder that is not this database's)."""
        try:
            self._subject_keys.get(subject_id)
        except SealedDataUnreadable:
            return False
        return True

    def sweep(self, keep: set[str], older_than_seconds: float = 3600.0) -> int:
        """Destroy the keys of subjects not in ``keep`` (left by a creation that crashed before its commit), if older
        than ``older_than_seconds``; returns how many were destroyed."""
        return self._subject_keys.sweep(keep, older_than_seconds)

    def seal_template(self, *, template_id: str, subject_id: str, algorithm: str, payload: bytes) -> bytes:
        """Seal a template's payload under its subject's key, bound to its id, subject and algorithm."""
        return seal(
            self._subject_keys.get(subject_id), payload, template_associated_data(template_id, subject_id, algorithm)
        )

    def open_template(self, template: Template) -> bytes:
        """The payload of ``template``'s row (its ``ciphertext``); raises :class:`SealedDataUnreadable`."""
        return open_sealed(
            self._subject_keys.get(template.subject_id),
            template.ciphertext,
            template_associated_data(template.id, template.subject_id, template.algorithm),
        )

    def open_templates(self, rows: Sequence[TemplateRow]) -> list[bytes | SealedDataUnreadable]:
        """The payloads of many template rows, each subject's key read once: what :meth:`open_template` gives each.

        Parameters
        ----------
        rows : sequence of (template_id, subject_id, algorithm, ciphertext)
            Each subject's key is read once, whatever the order.

        Returns
        -------
        list
            Per row, in order, its payload, or the :class:`SealedDataUnreadable` (:class:`KeyMissing`,
            :class:`DecryptionError`) that opening it raised.
        """
        keys = self._subject_keys.get_many(list(dict.fromkeys(row[1] for row in rows)))
        openers: dict[str, Callable[[bytes, bytes], bytes]] = {}
        opened: list[bytes | SealedDataUnreadable] = []
        for template_id, subject_id, algorithm, ciphertext in rows:
            key = keys[subject_id]
            if isinstance(key, KeyMissing):
                opened.append(key)
                continue
            open_one = openers.get(subject_id)
            if open_one is None:
                open_one = openers[subject_id] = opener(key)
            try:
                opened.append(open_one(ciphertext, template_associated_data(template_id, subject_id, algorithm)))
            except DecryptionError as error:
                opened.append(error)
        return opened

    def seal_image(self, *, subject_id: str, template_id: str, image: np.ndarray) -> bytes:
        """Seal the photo a template was made from, re-encoded as a JPEG without metadata
        (:func:`tessera.capture.still.clean_jpeg`; ``image`` is (rows, cols, 3) uint8 RGB)."""
        return seal(
            self._subject_keys.get(subject_id), clean_jpeg(image), image_associated_data(subject_id, template_id)
        )

    def open_image(self, *, subject_id: str, template_id: str, sealed: bytes) -> bytes:
        """The JPEG bytes of a photo sealed by :meth:`seal_image`; raises :class:`SealedDataUnreadable`."""
        return open_sealed(self._subject_keys.get(subject_id), sealed, image_associated_data(subject_id, template_id))

    def seal_consent_evidence(self, *, subject_id: str, image: bytes) -> bytes:
        """Seal a consent's evidence image (a signature, a thumbprint mark) under the subject's key: it is
        destroyed with the subject at erasure, as the templates are."""
        return seal(self._subject_keys.get(subject_id), image, evidence_associated_data(subject_id))

    def open_consent_evidence(self, *, subject_id: str, sealed: bytes) -> bytes:
        """The image sealed by :meth:`seal_consent_evidence`; raises :class:`SealedDataUnreadable`."""
        return open_sealed(self._subject_keys.get(subject_id), sealed, evidence_associated_data(subject_id))

    # -- templates in an external index ------------------------------------------------------------------------

    def template_rotation(self, gallery_id: str, dimension: int, generation: int = 1) -> np.ndarray:
        """The secret orthonormal (d, d) rotation of ``gallery_id``'s face templates in an external index.

        Derived from the master key (HKDF-SHA256, then HMAC-SHA256 of
        ``<gallery id>|<generation>``), so every process of an instance
        derives the same matrix with nothing stored, two galleries get
        unrelated ones, and a new ``generation`` renews them
        (:mod:`tessera.index.rotation` says what this protects against).

        Raises
        ------
        RuntimeError
            This vault was made without a master key (only :meth:`open` derives one).
        """
        if self._rotation_root is None:
            raise RuntimeError("this vault has no rotation root: open it with Vault.open(master_key_file=...)")
        seed = hmac.new(self._rotation_root, f"{gallery_id}|{generation}".encode(), hashlib.sha256).digest()
        return orthonormal_rotation(seed, dimension)

    def rotation_renewals(self, gallery_id: str) -> list[int]:
        """The renewals of ``gallery_id``'s rotation whose seed is held, oldest first (empty: never renewed, or
        this vault keeps no rotation keys). Two are held only while a renewal is under way."""
        if self._rotation_keys is None:
            return []
        prefix = _rotation_key_prefix(gallery_id)
        return sorted(
            int(key_id[len(prefix) :], 16) for key_id in self._rotation_keys.owner_ids() if key_id.startswith(prefix)
        )

    def new_rotation_renewal(self, gallery_id: str) -> int:
        """Draw and store durably the random seed of the next renewal of ``gallery_id``'s rotation; its number."""
        renewal = max(self.rotation_renewals(gallery_id), default=0) + 1
        self._require_rotation_keys().create(_rotation_key_id(gallery_id, renewal))
        return renewal

    def renewed_template_rotation(self, gallery_id: str, dimension: int, renewal: int) -> np.ndarray:
        """The orthonormal (d, d) rotation of renewal ``renewal`` (>= 1) of ``gallery_id``; raises
        :class:`KeyMissing` once that renewal's seed is destroyed."""
        return orthonormal_rotation(self._require_rotation_keys().get(_rotation_key_id(gallery_id, renewal)), dimension)

    def destroy_rotation_renewal(self, gallery_id: str, renewal: int) -> bool:
        """Destroy the seed of renewal ``renewal`` of ``gallery_id``'s rotation; True if it was held."""
        return self._require_rotation_keys().destroy(_rotation_key_id(gallery_id, renewal))

    def _require_rotation_keys(self) -> KeyStore:
        if self._rotation_keys is None:
            raise RuntimeError("this vault keeps no rotation keys: open it with Vault.open(rotation_key_dir=...)")
        return self._rotation_keys

    # -- the index snapshot ------------------------------------------------------------------------------------

    def seal_snapshot_segment(self, segment: int, plaintext: bytes) -> bytes:
        """Seal a segment of the index snapshot under a NEW key of its own (the previous one is destroyed first:
        every older copy of the segment becomes unreadable)."""
        keys = self._require_snapshot_keys()
        key_id = _snapshot_key_id(segment)
        keys.destroy(key_id)
        return seal(keys.create(key_id), plaintext, snapshot_associated_data(segment))

    def open_snapshot_segment(self, segment: int, sealed: bytes) -> bytes:
        """The plaintext of a snapshot segment sealed by :meth:`seal_snapshot_segment`; raises
        :class:`SealedDataUnreadable` (:class:`KeyMissing` once its key was replaced or destroyed by an erasure)."""
        keys = self._require_snapshot_keys()
        return open_sealed(keys.get(_snapshot_key_id(segment)), sealed, snapshot_associated_data(segment))

    def forget_snapshot_segment(self, segment: int) -> bool:
        """Destroy a snapshot segment's key (a segment found to hold an erased subject); True if there was one."""
        return self._require_snapshot_keys().destroy(_snapshot_key_id(segment))

    def forget_snapshot_segment_of(self, subject_id: str) -> bool:
        """Destroy the key of the snapshot segment holding ``subject_id`` (a template of theirs was replaced: no
        copy of the segment holding it can be opened); False when there was none or this vault seals no snapshot."""
        if self._snapshot_keys is None:
            return False
        return self._snapshot_keys.destroy(_snapshot_key_id(snapshot_segment(subject_id)))

    def _require_snapshot_keys(self) -> KeyStore:
        if self._snapshot_keys is None:
            raise RuntimeError("this vault was opened without a snapshot_key_dir: it seals no index snapshot")
        return self._snapshot_keys

    # -- search cases ------------------------------------------------------------------------------------------

    def seal_case_probe(self, search_id: str, image: np.ndarray) -> bytes:
        """Make the case's key and seal its probe photo for review, re-encoded as a JPEG without metadata."""
        return seal(self._case_keys.create(search_id), clean_jpeg(image), image_associated_data(search_id, CASE_PROBE))

    def open_case_probe(self, search_id: str, sealed: bytes | None) -> bytes | None:
        """The JPEG bytes of the case's probe photo, or None when none was kept or the case is closed (its key
        destroyed). Raises :class:`DecryptionError` when ``sealed`` does not authenticate for this case."""
        if sealed is None:
            return None
        try:
            case_key = self._case_keys.get(search_id)
        except KeyMissing:
            return None
        return open_sealed(case_key, sealed, image_associated_data(search_id, CASE_PROBE))

    def close_case(self, search_id: str) -> bool:
        """Destroy the case's key: its probe photo is unreadable everywhere. True if there was a key."""
        return self._case_keys.destroy(search_id)

    def cases_with_keys(self) -> set[str]:
        """The search cases whose probe photo can still be opened."""
        return self._case_keys.owner_ids()


def _rotation_key_prefix(gallery_id: str) -> str:
    """Key ids of a gallery's rotation renewals: 40 hex digits of the gallery id's SHA-256 (key ids are hex)."""
    return hashlib.sha256(gallery_id.encode()).hexdigest()[:40] + "-"


def _rotation_key_id(gallery_id: str, renewal: int) -> str:
    if renewal < 1:
        raise ValueError(f"renewal must be at least 1 (renewal 0 is derived, not stored); got {renewal}")
    return f"{_rotation_key_prefix(gallery_id)}{renewal:08x}"
