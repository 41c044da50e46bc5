"""When a reference photo of a person may be kept for two-person review.

A reviewer must compare faces, not numbers, so a gallery searched 1:N keeps,
for each face template, a normalised crop of the enrolment photo (the face at
``reference_photo_pixels``, never the raw upload), sealed under the subject's
key and erased with it (:class:`tessera.store.vault.Vault`). It is kept only
where the person was told so: the consent text they signed must say it
(``ConsentText.keeps_reference_photo``, declared when the text is registered),
and only while the gallery has 1:N search enabled (a DPIA cited).
"""

from __future__ import annotations

from tessera.store.models import ConsentText, Gallery


def keeps_reference_photo(text: ConsentText | None, gallery: Gallery) -> bool:
    """Whether a face photo enrolled under ``text`` in ``gallery`` may be kept (sealed) for reviewers."""
    return gallery.dpia_reference is not None and text is not None and bool(text.keeps_reference_photo)
