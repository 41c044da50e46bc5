"""One JSON error shape for every failure: {"error": {"code", "message"}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.errors import TesseraError

log = logging.getLogger("tessera.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


_FORM_LIMITS = (
    ("Too many files", 422, "too_many_images", " Send one image per field, at most a face and ten fingers."),
    ("Too many fields", 422, "too_many_fields", " Send one image per field, at most a face and ten fingers."),
    ("Field exceeded maximum size", 413, "field_too_large", " A form field other than an image holds at most 1 MB."),
    ("Part exceeded maximum size", 413, "field_too_large", " A form field other than an image holds at most 1 MB."),
    ("Missing boundary in multipart", 400, "malformed_body", " Send the form as multipart/form-data."),
    ("Invalid multipart data", 400, "malformed_body", " Send the form as multipart/form-data."),
    ('The Content-Disposition header field "name"', 400, "malformed_body", " Every form part needs a name."),
    ("There was an error parsing the body", 400, "malformed_body", " The body is not valid for its content type."),
)
"""Starts of the messages Starlette and FastAPI give when a request body cannot be parsed or breaks a form limit
(each a 400 there), and the status, reason code and advice each is answered with."""


def error_response(
    status: int, code: str, message: str, detail: dict | None = None, retry_after: int | None = None
) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if detail:
        body["detail"] = detail
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(status_code=status, content={"error": body}, headers=headers)


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body",))
        parts.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return "Invalid request. " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TesseraError)
    async def _tessera(_request: Request, error: TesseraError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.detail, error.retry_after)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _describe_validation(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = str(error.detail)
        for start, status, code, advice in _FORM_LIMITS:
            if error.status_code == 400 and detail.startswith(start):  # checked while parsing the body
                return error_response(status, code, detail + advice)
        return error_response(error.status_code, _HTTP_CODES.get(error.status_code, "http_error"), detail)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(
            500, "internal_error", "Something went wrong inside Tessera; nothing was saved. Try again."
        )
