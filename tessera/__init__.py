"""Tessera: consent-first biometric identity.

Enrol a person who agrees, verify them later (1:1) or find them among the
enrolled (1:N), state how likely every answer is to be wrong, and log every
step in a tamper-evident audit trail.
"""

import os

# onnxruntime reports telemetry unless told not to, and it must be told before
# it is first imported; every entry point imports this package first.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
