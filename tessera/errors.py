"""One exception hierarchy for the whole service.

Every error that can reach a caller carries its HTTP status and a stable
reason ``code``; the API turns it into ``{"error": {"code", "message"}}``.
Expected failures of the image steps are values (e.g. a ``FaceRefusal``) and
become :class:`UnusableCapture` only at the edge.
"""

from __future__ import annotations


class TesseraError(Exception):
    """Base class: an error with a reason code and an HTTP status."""

    status: int = 500
    code: str = "internal_error"
    retry_after: int | None = None
    """Seconds after which a retry may succeed (sent as ``Retry-After``); None: a retry cannot help."""

    def __init__(self, message: str, *, code: str | None = None, detail: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail or {}


class BadRequest(TesseraError):
    status = 400
    code = "bad_request"


class UnusableCapture(TesseraError):
    """The image was read but cannot be used (no face, too blurred, ...)."""

    status = 422
    code = "unusable_capture"


class NotAnImage(TesseraError):
    status = 422
    code = "not_an_image"


class UnsupportedMediaType(TesseraError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(TesseraError):
    status = 413
    code = "too_large"


class Unauthorized(TesseraError):
    status = 401
    code = "unauthorized"


class Forbidden(TesseraError):
    status = 403
    code = "forbidden"


class NotFound(TesseraError):
    status = 404
    code = "not_found"


class Conflict(TesseraError):
    status = 409
    code = "conflict"


class TooManyRequests(TesseraError):
    """Refused until ``retry_after`` seconds have passed (sent as the ``Retry-After`` header)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, detail={"retry_after_seconds": retry_after})
        self.retry_after = retry_after


class ServiceUnavailable(TesseraError):
    status = 503
    code = "unavailable"


class InvalidRequest(TesseraError):
    """A request that is well-formed but asks for something not allowed (a wrong field value)."""

    status = 422
    code = "invalid_request"
