"""Liveness tokens: single-use secrets that carry the face of a passed burst, readable only with the token.

The server stores a token's SHA-256 and the burst's face embedding sealed (AES-256-GCM,
:mod:`tessera.store.crypto`) under a key derived from the token (HKDF-SHA256). The token itself is given to the
client once and never stored, so a copy of the database cannot open the embedding, and the key is no key of the
vault's: it exists only while the client presents the token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera.store.crypto import open_sealed, seal

TOKEN_PREFIX = "tlt_"
"""Every liveness token starts with this (Tessera liveness token), so that it is recognised in a form."""
_TOKEN_BYTES = 32
_KEY_INFO = b"tessera liveness token embedding key v1"


def new_token() -> str:
    """A fresh token: the prefix and 32 random bytes, base64url."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(_TOKEN_BYTES)).decode("ascii").rstrip("=")


def token_sha256(token: str) -> str:
    """What the store keeps of a token (or of a challenge's nonce)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _key(token: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(token.encode("utf-8"))


def seal_embedding(token: str, embedding: np.ndarray, bound_to: str) -> bytes:
    """``embedding`` (float32) sealed under ``token``; ``bound_to`` (the challenge id) is authenticated with it."""
    return seal(_key(token), np.asarray(embedding, dtype="<f4").tobytes(), bound_to.encode("utf-8"))


def open_embedding(token: str, sealed: bytes, bound_to: str) -> np.ndarray:
    """The embedding :func:`seal_embedding` sealed (raises :class:`~tessera.store.crypto.DecryptionError`)."""
    return np.frombuffer(open_sealed(_key(token), sealed, bound_to.encode("utf-8")), dtype="<f4").copy()
