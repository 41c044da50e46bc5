"""One JSON error shape for every failure: {"error": {"code", "message"}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.errors import TesseraError, TooManyRequests

log = logging.getLogger("tessera.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def error_response(
    status: int, code: str, message: str, detail: dict | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if detail:
        body["detail"] = detail
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
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyRequests) else None
        return error_response(error.status, error.code, error.message, error.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _describe_validation(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, _HTTP_CODES.get(error.status_code, "http_error"), str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(
            500, "internal_error", "Something went wrong inside Tessera; nothing was saved. Try again."
        )
