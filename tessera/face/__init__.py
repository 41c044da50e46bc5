"""Face pipeline: a photo in, a 128-D template or a reason to retake it out.

Start at :func:`tessera.face.pipeline.extract_face`; every tuning value is in
:class:`tessera.face.config.FaceConfig`.
"""
