"""Why a capture cannot be used, in words the person holding the camera can act on.

A refusal is an expected outcome, not an error: a step returns a falsy
:class:`Refusal` (``if not result:`` catches it), and only the API's edge
turns it into an HTTP 422 with its ``reason`` as the error code. Each
modality subclasses it with its own stable list of reasons and messages
(:class:`tessera.face.refusal.FaceRefusal`,
:class:`tessera.finger.refusal.FingerRefusal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

R = TypeVar("R", bound="Refusal")


@dataclass(frozen=True)
class Refusal:
    """A capture that cannot be used; falsy.

    Attributes
    ----------
    reason : str
        One of the subclass's ``REASONS``: stable, clients and the API key on them.
    message : str
        What went wrong and what to do, for the person holding the camera.
    detail : dict
        JSON-serialisable figures: ``measure`` (what was measured), ``value``
        (the measurement) and ``minimum`` or ``maximum`` (the limit it broke).
    """

    REASONS: ClassVar[tuple[str, ...]] = ()
    MESSAGES: ClassVar[dict[str, str]] = {}

    reason: str
    message: str
    detail: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reason not in self.REASONS:
            raise ValueError(f"reason must be one of {self.REASONS}; got {self.reason!r}")

    def __bool__(self) -> bool:
        return False

    @classmethod
    def of(cls: type[R], reason: str, message_key: str | None = None, **detail: object) -> R:
        """The refusal for ``reason`` with its standard message (or the variant ``message_key``) and ``detail``
        figures."""
        return cls(reason=reason, message=cls.MESSAGES[message_key or reason], detail=detail)
