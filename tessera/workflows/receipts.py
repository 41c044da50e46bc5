"""The enrolment receipt a person keeps: what was captured, for what, until when, how to withdraw and complain.

One printable HTML page in plain words, readable on a phone, in the language of the consent text the person was
shown where Tessera has the receipt's words in it (:data:`WORDS`), else in English with the consent text in the
person's language. Reading it is audited (``subject.receipt``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from html import escape

from sqlalchemy import select

from tessera.store.models import ConsentText, Gallery
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_subject
from tessera.workflows.subjects import load_subject

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your enrolment receipt",
        "programme": "Programme",
        "number": "Your number",
        "enrolled": "Enrolled on",
        "captured": "What was taken",
        "nothing": "Nothing yet",
        "face": "face photo(s)",
        "finger": "fingerprint(s)",
        "not_kept": "The photos themselves are not kept: only numbers made from them, locked with a key that is "
        "destroyed if you withdraw.",
        "purposes": "What it is used for",
        "verify": "to check it is you when you come back",
        "deduplicate": "to check you are not registered twice",
        "until": "Kept until",
        "until_text": "{date} at the latest. Each visit keeps it {days} more days, never after your consent ends "
        "on {expires}.",
        "withdraw": "How to withdraw",
        "withdraw_text": "You can withdraw at any time: tell any field worker. Everything is erased at once and you "
        "get an erasure receipt.",
        "without": "You can still be helped without your face or fingerprints: ask the field worker.",
        "complain": "How to complain",
        "consent": "What you agreed to (version {version})",
        "other_languages": "This receipt is also available in",
    },
    "fr": {
        "title": "Votre reçu d'enregistrement",
        "programme": "Programme",
        "number": "Votre numéro",
        "enrolled": "Enregistré le",
        "captured": "Ce qui a été pris",
        "nothing": "Rien pour l'instant",
        "face": "photo(s) du visage",
        "finger": "empreinte(s) digitale(s)",
        "not_kept": "Les photos elles-mêmes ne sont pas gardées : seulement des nombres calculés à partir d'elles, "
        "fermés par une clé détruite si vous vous retirez.",
        "purposes": "À quoi cela sert",
        "verify": "vérifier que c'est bien vous quand vous revenez",
        "deduplicate": "vérifier que vous n'êtes pas enregistré deux fois",
        "until": "Gardé jusqu'au",
        "until_text": "{date} au plus tard. Chaque visite prolonge de {days} jours, jamais après la fin de votre "
        "consentement le {expires}.",
        "withdraw": "Comment vous retirer",
        "withdraw_text": "Vous pouvez vous retirer à tout moment : dites-le à un agent. Tout est effacé aussitôt et "
        "vous recevez un reçu d'effacement.",
        "without": "Vous pouvez être aidé sans votre visage ni vos empreintes : demandez à l'agent.",
        "complain": "Comment porter plainte",
        "consent": "Ce que vous avez accepté (version {version})",
        "other_languages": "Ce reçu existe aussi en",
    },
}
"""The receipt's words per language; a new language is one more entry (a test checks every entry has every key)."""


def kept_until(last_interaction_at: datetime, retention_days: int, consent_expires_at: datetime) -> datetime:
    """The latest the person's data may be kept as things stand (:func:`tessera.governance.retention.erasure_due`)."""
    return min(last_interaction_at + timedelta(days=retention_days), consent_expires_at)


def receipt_html(instance: Instance, actor: Actor | str, subject_id: str, language: str | None = None) -> str:
    """The receipt of ``subject_id`` as a whole HTML page, in ``language`` where the consent text exists in it.

    Raises
    ------
    NotFound
        ``subject_not_found`` (also outside the key's galleries).
    """
    check_subject(instance, actor, subject_id, "subject.receipt")
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        consent = subject.consent
        gallery = session.get_one(Gallery, subject.gallery_id)
        shown = session.get(ConsentText, consent.text_sha256)
        texts = {
            t.language: t
            for t in session.scalars(select(ConsentText).where(ConsentText.version == consent.text_version))
        }
        wanted = language if language in texts else (shown.language if shown else "en")
        text = texts.get(wanted, shown)
        words = WORDS.get(wanted, WORDS["en"])
        captured = Counter(t.modality for t in subject.templates)
        any_kept = any(t.image_ciphertext is not None for t in subject.templates)
        until = kept_until(subject.last_interaction_at, gallery.retention_days, consent.expires_at)
        page = _page(
            words,
            lang=wanted if wanted in WORDS else "en",
            programme=f"{gallery.name}: {gallery.purpose}",
            number=subject.id,
            enrolled=subject.created_at.date().isoformat(),
            captured=", ".join(f"{n} {words[m]}" for m, n in sorted(captured.items()) if m in words)
            or words["nothing"],
            not_kept=None if any_kept else words["not_kept"],
            purposes=[words.get(p, p) for p in consent.purposes],
            until=words["until_text"].format(
                date=until.date().isoformat(),
                days=gallery.retention_days,
                expires=consent.expires_at.date().isoformat(),
            ),
            without=words["without"] if gallery.allow_non_biometric else None,
            complain=instance.settings.complaint_contact,
            consent_title=words["consent"].format(version=consent.text_version),
            consent_text=text.text if text else "",
            others=sorted(set(texts) - {wanted}),
        )
    record_read(
        instance,
        actor,
        "subject.receipt",
        subject_id=subject_id,
        gallery_id=subject.gallery_id,
        details={"language": wanted},
    )
    return page


def _page(
    words: dict[str, str],
    *,
    lang: str,
    programme: str,
    number: str,
    enrolled: str,
    captured: str,
    not_kept: str | None,
    purposes: list[str],
    until: str,
    without: str | None,
    complain: str,
    consent_title: str,
    consent_text: str,
    others: list[str],
) -> str:
    def row(label: str, value: str) -> str:
        return f"<dt>{escape(words[label])}</dt><dd>{escape(value)}</dd>"

    items = "".join(f"<li>{escape(p)}</li>" for p in purposes)
    return f"""<!doctype html>
<html lang="{escape(lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(words["title"])}</title>
<style>
body {{ font: 18px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 0 auto; padding: 1rem; color: #111; }}
dt {{ font-weight: 700; margin-top: 1rem; }} dd {{ margin: 0; overflow-wrap: anywhere; }}
.consent {{ white-space: pre-wrap; border-left: 4px solid #888; padding-left: .75rem; }}
@media print {{ body {{ font-size: 12pt; }} }}
</style></head><body>
<h1>{escape(words["title"])}</h1>
<dl>
{row("programme", programme)}
{row("number", number)}
{row("enrolled", enrolled)}
{row("captured", captured)}
{f"<dd>{escape(not_kept)}</dd>" if not_kept else ""}
<dt>{escape(words["purposes"])}</dt><dd><ul>{items}</ul></dd>
{row("until", until)}
{row("withdraw", words["withdraw_text"])}
{f"<dd>{escape(without)}</dd>" if without else ""}
{row("complain", complain)}
</dl>
<h2>{escape(consent_title)}</h2>
<p class="consent">{escape(consent_text)}</p>
{f"<p>{escape(words['other_languages'])}: {escape(', '.join(others))}</p>" if others else ""}
</body></html>
"""
