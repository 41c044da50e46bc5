"""Fingerprint pipeline: a contact print or a fingertip photo in, a minutiae template or a reason to retake it out.

Start at :func:`tessera.finger.pipeline.extract_finger`; every tuning value is in
:class:`tessera.finger.config.FingerConfig`. Templates are compared by
:mod:`tessera.match.mcc`.
"""
