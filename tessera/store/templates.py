"""Sealing and opening template payloads with the subject's data key."""
from __future__ import annotations

import numpy as np

from tessera.store.crypto import open_sealed, seal, template_associated_data
from tessera.store.keystore import KeyStore
from tessera.store.models import Template


def seal_vector(data_key: bytes, template_id: str, subject_id: str, algorithm: str, vector: np.ndarray) -> bytes:
    payload = np.asarray(vector, dtype="<f4").tobytes()
    return seal(data_key, payload, template_associated_data(template_id, subject_id, algorithm))


def open_template(keys: KeyStore, template: Template) -> np.ndarray:
    """Decrypt ``template`` into its float32 vector; raises KeyMissing or DecryptionError."""
    data_key = keys.get(template.subject_id)
    payload = open_sealed(
        data_key, template.ciphertext, template_associated_data(template.id, template.subject_id, template.algorithm)
    )
    return np.frombuffer(payload, dtype="<f4").astype(np.float32)
