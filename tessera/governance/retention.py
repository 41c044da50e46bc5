"""Retention: when a subject's biometric data must be destroyed.

As Illinois BIPA 740 ILCS 14/15(a) requires: when the purpose of collection
is met (the gallery is closed) or after the retention period since the
person's last interaction, whichever comes first; and, since nothing may be
used without consent, when the consent expires. A gallery may set a shorter
period than the default three years, never a longer one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_RETENTION_DAYS = 3 * 365
"""Three years: the longest a gallery may keep anyone's data after their last interaction."""


def erasure_due(
    *,
    last_interaction_at: datetime,
    consent_expires_at: datetime,
    retention_days: int,
    gallery_closed_at: datetime | None,
    now: datetime,
) -> str | None:
    """Why the subject's data must be destroyed now, or None if it may be kept."""
    if gallery_closed_at is not None and gallery_closed_at <= now:
        return "purpose_met"
    if consent_expires_at <= now:
        return "consent_expired"
    if last_interaction_at + timedelta(days=retention_days) <= now:
        return "retention_period_ended"
    return None


def check_retention_days(days: int) -> int:
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValueError(f"retention_days must be from 1 to {MAX_RETENTION_DAYS}; got {days}")
    return days
