"""The FastAPI application: thin routes over the workflows of an open instance."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from tessera import __version__
from tessera.api.deps import INSTANCE, authenticated
from tessera.api.errors import error_response, install_error_handlers
from tessera.api.limits import BodyLimit, RequestGate
from tessera.api.rate import VerifyLimits
from tessera.api.redaction import carries_key
from tessera.api.routes import (
    audit,
    disclosure,
    galleries,
    governance,
    keys,
    liveness,
    matching,
    non_biometric,
    people,
    preflight,
    records,
    review,
    subjects,
)
from tessera.api.schemas import ErrorResponse
from tessera.api.throttle import FailureLimiter
from tessera.governance.roles import ROLE_PERMISSIONS, Role
from tessera.match.matchers import warm_up_in_background
from tessera.web.docs import mount_docs
from tessera.web.mount import mount_web
from tessera.workflows.budget import work_on_calling_threads
from tessera.workflows.captures import CAPTURE_KINDS
from tessera.workflows.indexing import IndexFollower, pending
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.retention import RetentionJob

DESCRIPTION = """Consent-first biometric identity. Every answer states its false-match rate;
1:N candidates are leads for a person to review, never identifications.
Tessera never ingests images from URLs, video streams or fixed cameras, never tracks
locations, and never infers race, sex, emotion or risk."""

ROUTERS = (
    galleries.router,
    subjects.router,
    records.router,
    matching.router,
    audit.router,
    governance.router,
    keys.router,
    preflight.router,
    people.router,
    non_biometric.router,
    review.router,
    liveness.router,
    disclosure.router,
)
"""Every router of the API, in the order they are mounted."""

MOST_IMAGES_PER_REQUEST = sum(kind.most_per_request for kind in CAPTURE_KINDS.values())
"""Files one request may carry: a face and ten fingers."""
_MOST_FORM_FIELDS = 64  # the widest form (identify with ten fingers) has 24 text fields

# Multipart overhead allowed on top of the image limit before a request is refused unread.
_FORM_OVERHEAD = 64 * 1024


def create_app(instance: Instance, *, background_jobs: bool = True) -> FastAPI:
    """The service over ``instance``; ``background_jobs`` runs the retention schedule while it is up.

    While it is up the index outbox is applied in the background whatever ``background_jobs`` says
    (:class:`~tessera.workflows.indexing.IndexFollower`): changes made by other processes reach its indexes.
    Every library then runs a request's work on the request's own thread, where its CPU budget counts it
    (:func:`~tessera.workflows.budget.work_on_calling_threads`, process-wide).
    """
    work_on_calling_threads()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        settings = instance.settings
        _app.state.models_warm = warm_up_in_background(list(instance.matchers))  # the first request would pay
        follower = IndexFollower(instance, settings.index_follow_interval_seconds, settings.index_outbox_keep_seconds)
        follower.start()
        job = RetentionJob(instance) if background_jobs else None
        if job:
            job.start()
        yield
        if job:
            job.stop()
        follower.stop()

    app = FastAPI(
        lifespan=lifespan,
        # Checked while the form is parsed: a request with more files or fields is refused before the rest is read.
        form_limits={"max_files": MOST_IMAGES_PER_REQUEST, "max_fields": _MOST_FORM_FIELDS},
        title="Tessera",
        version=__version__,
        description=DESCRIPTION,
        # Not FastAPI's /docs or /redoc: they load their scripts from a CDN (blank offline, and a third party would
        # learn who reads them). /docs is served from local assets instead (tessera/web/docs.py, setting api_docs).
        docs_url=None,
        redoc_url=None,
        responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)},
    )
    app.state.instance = instance
    app.state.auth_failures = FailureLimiter(
        instance, instance.settings.auth_failure_limit, instance.settings.auth_failure_window_seconds
    )
    app.state.verify_limits = VerifyLimits(instance, instance.settings)
    install_error_handlers(app)

    # Counted as the bytes arrive, chunked or not, before authentication. Innermost, so that its refusal reaches
    # the body's reader (and the error handlers) as it is, not wrapped by the outer middleware's task groups.
    app.add_middleware(BodyLimit, limit=instance.settings.max_upload_bytes + _FORM_OVERHEAD)

    @app.middleware("http")
    async def refuse_oversized(request: Request, call_next):
        declared = request.headers.get("content-length")
        limit = instance.settings.max_upload_bytes + _FORM_OVERHEAD
        if declared is not None:
            if not declared.isdigit():
                return error_response(400, "bad_request", "Content-Length must be a whole number of bytes.")
            if int(declared) > limit:
                return error_response(413, "too_large", f"The request is larger than the {limit:,}-byte limit.")
        return await call_next(request)

    @app.middleware("http")
    async def refuse_keys_in_urls(request: Request, call_next):
        if carries_key(request.url.query):
            return error_response(
                400,
                "key_in_url",
                "API keys are never accepted in a URL (URLs end up in logs and browser history): send it as "
                "Authorization: Bearer <key>. Revoke a key that was sent in a URL.",
            )
        return await call_next(request)

    @app.middleware("http")
    async def no_caching(request: Request, call_next):
        response = await call_next(request)
        if request.url.path.startswith("/v1/"):
            response.headers["Cache-Control"] = "no-store"  # answers name people: no copies in caches
        return response

    # Outermost: a request beyond the concurrency limits is refused before anything else runs.
    app.add_middleware(RequestGate, settings=instance.settings)

    @app.get(
        "/v1/me",
        tags=["service"],
        summary="The calling key's id, role, permissions and galleries (null: every gallery)",
        openapi_extra=INSTANCE,
    )
    def me(actor: Annotated[Actor, Depends(authenticated)]) -> JSONResponse:
        permissions = sorted(p.value for p in ROLE_PERMISSIONS.get(Role(actor.role), frozenset()))
        galleries = None if actor.galleries is None else sorted(actor.galleries)
        return JSONResponse(
            {
                "key_id": actor.id.removeprefix("key:"),
                "role": actor.role,
                "permissions": permissions,
                "galleries": galleries,
            }
        )

    @app.get("/healthz", tags=["service"], summary="Liveness, index size and index outbox lag", openapi_extra=INSTANCE)
    def healthz() -> JSONResponse:
        """Answers once the indexes are filled (the service listens only then). ``index_outbox`` says how far this
        process's indexes have applied the index outbox (``applied_seq``) and how many committed changes they have
        not applied yet (``pending``: enrolments and erasures made by other processes, applied within a second)."""
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "templates_indexed": instance.matchers.indexed(),
                "index_outbox": {"applied_seq": instance.outbox.seq, "pending": pending(instance)},
            }
        )

    for router in ROUTERS:
        app.include_router(router)
    mount_web(app)
    if instance.settings.api_docs:
        mount_docs(app)
    return app
