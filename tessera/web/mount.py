"""Serve the operator console and capture page from the Tessera service itself.

The pages are plain HTML, CSS and JavaScript modules in ``tessera/web/static``
(no build step). The face and hand guidance models come from npm packages that
``make install`` copies into ``tessera/web/vendor`` (git-ignored); when that
folder is missing the pages still work, as a plain camera with guidance off.
Nothing is loaded from another origin at run time: the Content-Security-Policy
below forbids it.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
VENDOR_DIR = WEB_DIR / "vendor"
"""Where ``make install`` copies @mediapipe/face_detection and @mediapipe/hands from node_modules."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        # Scripts from this origin only, never inline. MediaPipe's solutions compile their WebAssembly
        # and, being Emscripten builds with embind, also make functions from strings: without
        # 'unsafe-eval' the guidance models cannot start (the page then works as a plain camera).
        "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'",
        "connect-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob: mediastream:",
        "style-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The camera for this origin only; never the microphone or the location.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

# The page holds no personal data, but it must never be served stale after an upgrade;
# assets are revalidated by ETag, which is cheap on a slow network.
_PAGE_CACHE = "no-store"
_ASSET_CACHE = "no-cache"

_MODEL_TYPES = {
    ".wasm": "application/wasm",
    ".tflite": "application/octet-stream",
    ".binarypb": "application/octet-stream",
    ".data": "application/octet-stream",
}


def mount_web(app: FastAPI) -> None:
    """Serve the console at ``/`` and its assets under ``/static/`` (models under ``/static/vendor/``)."""
    for suffix, media_type in _MODEL_TYPES.items():
        mimetypes.add_type(media_type, suffix)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": _PAGE_CACHE})

    if VENDOR_DIR.is_dir():
        app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR), name="web-vendor")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="web-static")

    @app.middleware("http")
    async def page_headers(request: Request, call_next):
        response = await call_next(request)
        path = request.url.path
        if path == "/" or path.startswith("/static/"):
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", _ASSET_CACHE)
        return response
