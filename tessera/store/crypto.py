"""Envelope encryption of templates (AES-256-GCM, ISO/IEC 24745 renewability and revocability).

Each subject has its own 256-bit data key. Templates are sealed with it,
bound by the associated data to their id, subject and algorithm, so that a
ciphertext moved to another row does not decrypt (the associated data of
every kind of sealed item is defined in :mod:`tessera.store.vault`, the only
caller of :func:`seal` and :func:`open_sealed`). Data keys are wrapped by
the instance's master key (RFC 3394 AES key wrap) and kept outside the
database; destroying a subject's key makes its templates unreadable in every
copy of the database (crypto-shredding).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

KEY_BYTES = 32
NONCE_BYTES = 12


class SealedDataUnreadable(Exception):
    """Sealed data cannot be opened: its key is gone (:class:`~tessera.store.keystore.KeyMissing`) or it does not
    authenticate (:class:`DecryptionError`)."""


class DecryptionError(SealedDataUnreadable):
    """A ciphertext or wrapped key did not authenticate: wrong key, or tampered data."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt ``plaintext``; returns nonce || ciphertext || tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Decrypt what :func:`seal` produced, or raise :class:`DecryptionError`."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except (InvalidTag, ValueError) as error:
        raise DecryptionError("ciphertext does not authenticate under this key") from error


def opener(key: bytes) -> Callable[[bytes, bytes], bytes]:
    """:func:`open_sealed` bound to ``key``, set up once: to open many items sealed under one key."""
    cipher = AESGCM(key)

    def open_one(sealed: bytes, associated_data: bytes) -> bytes:
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError) as error:
            raise DecryptionError("ciphertext does not authenticate under this key") from error

    return open_one


def wrap_key(master_key: bytes, data_key: bytes) -> bytes:
    return aes_key_wrap(master_key, data_key)


def unwrap_key(master_key: bytes, wrapped: bytes) -> bytes:
    try:
        return aes_key_unwrap(master_key, wrapped)
    except (InvalidUnwrap, ValueError) as error:
        raise DecryptionError("wrapped key does not unwrap under this master key") from error


def load_or_create_master_key(path: Path) -> bytes:
    """Read the 32-byte master key at ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise ValueError(f"master key file {path} holds {len(key)} bytes; expected {KEY_BYTES}")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, key)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return key
