"""The API reference at ``/docs``: Swagger UI over the service's own OpenAPI document, from local assets.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN (blank offline, and a
third party learns who reads it), so it stays off; this page loads the same
viewer from ``tessera/web/vendor/swagger-ui`` (npm ``swagger-ui-dist``, pinned in
package-lock.json, copied by ``make web``). It is served when the ``api_docs``
setting is on (the default: the document holds no data of the instance, see
docs/security.md) and the assets are installed; otherwise ``/docs`` is a 404.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse

from tessera.web.mount import PAGE_HEADERS, STATIC_DIR, VENDOR_DIR

SWAGGER_UI_DIR = VENDOR_DIR / "swagger-ui"

DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",  # no eval, no inline script
        "connect-src 'self'",  # the document and "Try it out" requests reach this service only
        "img-src 'self' data:",  # Swagger UI's icons are data: SVGs
        "style-src 'self' 'unsafe-inline'",  # Swagger UI (React) sets style attributes
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""The page's policy: the console's (:data:`~tessera.web.mount.CONTENT_SECURITY_POLICY`) without eval or the camera,
with the inline styles Swagger UI sets."""


def docs_installed() -> bool:
    """Whether ``make web`` copied Swagger UI's assets into the vendor folder."""
    return (SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file() and (SWAGGER_UI_DIR / "swagger-ui.css").is_file()


def mount_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (call after :func:`tessera.web.mount.mount_web`, which serves the assets)."""
    if not docs_installed():
        return

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        headers = {**PAGE_HEADERS, "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}
        return FileResponse(STATIC_DIR / "docs.html", media_type="text/html", headers=headers)
