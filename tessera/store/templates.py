"""Sealing and opening template payloads with the subject's data key.

A face template's payload is its embedding (little-endian float32); a finger
template's is its ISO/IEC 19794-2 record (:meth:`FingerTemplate.to_bytes`).
Both are sealed the same way, bound to the template id, subject and algorithm.
"""

from __future__ import annotations

import numpy as np

from tessera.store.crypto import open_sealed, seal, template_associated_data
from tessera.store.keystore import KeyStore
from tessera.store.models import Template


def seal_payload(data_key: bytes, template_id: str, subject_id: str, algorithm: str, payload: bytes) -> bytes:
    return seal(data_key, payload, template_associated_data(template_id, subject_id, algorithm))


def seal_vector(data_key: bytes, template_id: str, subject_id: str, algorithm: str, vector: np.ndarray) -> bytes:
    return seal_payload(data_key, template_id, subject_id, algorithm, np.asarray(vector, dtype="<f4").tobytes())


def open_payload(keys: KeyStore, template: Template) -> bytes:
    """Decrypt ``template``'s payload bytes; raises KeyMissing or DecryptionError."""
    data_key = keys.get(template.subject_id)
    return open_sealed(
        data_key, template.ciphertext, template_associated_data(template.id, template.subject_id, template.algorithm)
    )


def open_template(keys: KeyStore, template: Template) -> np.ndarray:
    """Decrypt a face ``template`` into its float32 vector; raises KeyMissing or DecryptionError."""
    return np.frombuffer(open_payload(keys, template), dtype="<f4").astype(np.float32)
