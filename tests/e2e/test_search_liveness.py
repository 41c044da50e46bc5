"""The search and enrol screens in a self-service (``unsupervised``) gallery: the liveness check before a search
with fingers and before an enrolment, and the refusals without it (docs/liveness.md), in a real browser against the
real service.

A search with a face and four fingers goes through the challenge. No photo sequence among the evaluation data can
pass a real challenge (every challenge holds a look up, a look down or a move closer; tests/e2e/test_liveness.py
says why), so the burst's verdict is the one thing replaced: the page's burst never reaches the server, and the
test answers it with a pass whose token it stores in the server's own database, the way the server stores one
(:mod:`tessera.liveness.token`): bound to the challenge the page asked for (its gallery, purpose and key) and to
the face the camera shows. On the phone the face model is blocked too (an old phone): the check's steps are then
timed, and the panel says so. Everything else is the service's own: the server accepts the token only if the page
asked for the challenge with purpose ``identify``, sends the token with the face photo, and the photo shows the
face sealed in it; then it searches the face and the four fingertips (real contactless photos, given through the
page's "Use the phone's camera app" input, as the camera shows a face). The answer is the search's, with the
check passed.

Without the check ticked, the console hears the gallery's refusal before the camera opens.

An enrolment goes the same way on the same server: a person's consent recorded on the console, their face refused
before the camera opens without the check (and their fingers, which no check can vouch for), then enrolled through
the check, whose token the server accepts only for a challenge asked with purpose ``enrol`` and this face.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Route, expect
from sqlalchemy.orm import Session

from tessera.liveness.frames import read_still
from tessera.settings import Settings
from tessera.store.db import create_store_engine
from tessera.store.models import LivenessChallenge
from tessera.workflows.liveness import issue_token
from tests.conftest import SHARED_DATA, _require
from tests.e2e.conftest import ARTIFACTS, VIEWPORTS, Server, serve
from tests.e2e.test_consent import record_consent
from tests.e2e.test_console import Console
from tests.e2e.y4m import framed, write_y4m
from tests.service_fixtures import Api

pytestmark = pytest.mark.lfw

GALLERY = "Remote cash transfers (self-service)"
DS1 = SHARED_DATA / "finger" / "contactless_ds1" / "data" / "DS1_sample"
FIELDS_HOOK = (
    "window.__fields = []; const append = FormData.prototype.append;"
    "FormData.prototype.append = function (name, value, ...rest) {"
    "  window.__fields.push([name, typeof value === 'string' ? value : 'blob']);"
    "  return append.call(this, name, value, ...rest); };"
)


def mint_passed_token(database_url: str, challenge_id: str, embedding: np.ndarray) -> str:
    """Store a passed burst's token for ``challenge_id`` with the server's own ``issue_token`` and consume the
    challenge; the token."""
    engine = create_store_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            challenge = session.get_one(LivenessChallenge, challenge_id)
            now = datetime.now(UTC)
            challenge.used_at, challenge.outcome = now, "passed"
            token = issue_token(session, challenge, embedding, now + timedelta(seconds=120))
    finally:
        engine.dispose()
    return token


def passed_burst(database_url: str, embedding: np.ndarray, purposes: list[str]):
    """A route handler for the page's burst: a pass carrying a token minted for the challenge in its URL (whose
    purpose is appended to ``purposes``)."""

    def answer(route: Route) -> None:
        challenge_id = route.request.url.rstrip("/").split("/")[-2]
        token = mint_passed_token(database_url, challenge_id, embedding)
        engine = create_store_engine(database_url, for_writing=False)
        with Session(engine) as session:
            purposes.append(session.get_one(LivenessChallenge, challenge_id).purpose)
        engine.dispose()
        body = {
            "challenge_id": challenge_id,
            "liveness": "passed",
            "reason": None,
            "message": None,
            "checks": {},
            "measures": {},
            "liveness_token": token,
            "token_expires_at": None,
            "server_ms": None,
        }
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    return answer


@contextmanager
def checked_console(open_browser, self_service, faces: dict, shots: str, viewport_name: str):
    """The console of the self-service server in a browser of ``viewport_name`` whose camera shows ``faces``, the
    form fields it sends recorded (``window.__fields``) and every burst answered as passed (:func:`passed_burst`);
    yields the console and the list the challenges' purposes are appended to."""
    server, database_url = self_service
    with open_browser(faces["camera"], VIEWPORTS[viewport_name], ARTIFACTS / shots / viewport_name) as browser:
        console = Console(browser, server.url)
        console.page.add_init_script(FIELDS_HOOK)
        purposes: list[str] = []
        console.page.route(
            re.compile(r".*/v1/liveness/challenges/[^/]+/burst$"),
            passed_burst(database_url, faces["embedding"], purposes),
        )
        yield console, purposes


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def faces(lfw_dir, tmp_path_factory) -> dict:
    """The camera's face (an LFW photo framed as a webcam shows it), its SFace embedding, and another photo of the
    same person to enrol."""
    paths = sorted((lfw_dir / "images" / "Colin_Powell").glob("*.jpg"))[:2]
    if len(paths) < 2:
        pytest.skip("LFW has fewer than 2 photos of Colin_Powell here")
    shown = framed(Image.open(paths[0]))
    still = read_still(np.asarray(shown.convert("RGB")))
    assert still.embedding is not None, still.refusal
    camera = write_y4m(tmp_path_factory.mktemp("search-camera") / "face.y4m", shown)
    return {"camera": camera, "embedding": still.embedding, "enrol": paths[1].read_bytes()}


@pytest.fixture(scope="module")
def fingertips() -> list[dict]:
    """Four real contactless fingertip photos of one person (right index to little), as files a phone would give."""
    paths = [_require(DS1 / "1" / f"SIRE-1_{finger}_1.bmp", "contactless_ds1") for finger in (2, 3, 4, 5)]
    return [
        {"name": f"tip-{n}.png", "mimeType": "image/png", "buffer": _png(Image.open(p).convert("RGB"))}
        for n, p in enumerate(paths)
    ]


@pytest.fixture(scope="module")
def self_service(tmp_path_factory, playwright, faces):
    """A server with an unsupervised gallery that allows duplicate search and holds one person, enrolled through the
    challenge (a token minted as above for a challenge the API issued); the server and its database URL."""
    data_dir = tmp_path_factory.mktemp("search-liveness")
    database_url = Settings(data_dir=data_dir).resolved_database_url
    with serve(data_dir, env={"TESSERA_REQUEST_TIMEOUT_SECONDS": "900"}) as server:
        with server.api() as client:
            client.timeout = 900
            admin = {"Authorization": f"Bearer {server.admin_key}"}
            api = Api(client, dict.fromkeys(("admin", "enroller"), admin))
            api.gallery("Consent texts")  # registers the standard consent text
            created = client.post(
                "/v1/galleries", json={"name": GALLERY, "purpose": "Cash", "liveness": "unsupervised"}
            )
            assert created.status_code == 201, created.text
            gallery = created.json()["id"]
            enabled = client.post(f"/v1/galleries/{gallery}/identification", json={"dpia_reference": "DPIA-2026-016"})
            assert enabled.status_code == 200, enabled.text
            person = api.subject(gallery, modalities=("face", "finger"))
            issued = client.post("/v1/liveness/challenges", json={"gallery_id": gallery, "purpose": "enrol"})
            assert issued.status_code == 201, issued.text
            enrol_face = read_still(np.asarray(Image.open(io.BytesIO(faces["enrol"])).convert("RGB"))).embedding
            token = mint_passed_token(database_url, issued.json()["challenge_id"], enrol_face)
            enrolled = client.post(
                f"/v1/subjects/{person}/faces",
                files={"image": ("face.jpg", faces["enrol"], "image/jpeg")},
                data={"liveness_token": token},
            )
            assert enrolled.status_code == 201, enrolled.text
        yield server, database_url


def open_search(console: Console, server: Server, case: str, search_with: str, check: bool) -> None:
    page = console.page
    console.sign_in(server.admin_key)
    console.choose_gallery(GALLERY)
    console.home()
    page.get_by_role("link", name=re.compile("Search for duplicates")).click()
    form = console.screen("identify")
    form.get_by_label("Why you are searching").select_option("deduplicate")
    form.get_by_label("Case reference").fill(case)
    form.get_by_label("Search with").select_option(label=search_with)
    if check:
        form.get_by_label(re.compile("Check the person is present first")).check()
    page.get_by_role("button", name="Take photo and search").click()


def take_fingertips(console: Console, fingertips: list[dict]) -> None:
    """The four fingertips one at a time (the hand model blocked), each given as a phone's camera app gives it."""
    page = console.page
    expect(page.locator("#capture-title")).to_have_text("Right hand: four fingers in one photo")
    page.get_by_role("button", name="Take photo", exact=True).click()  # no hand model: the fallback begins
    expect(page.locator("#capture-note")).to_contain_text("one fingertip at a time", timeout=60_000)
    for number_of, (name, tip) in enumerate(
        zip(("Right index", "Right middle", "Right ring", "Right little"), fingertips), 1
    ):
        expect(page.locator("#capture-title")).to_have_text(
            f"{name} ({number_of} of 4): fingertip photo", timeout=60_000
        )
        page.locator("#file-pick").set_input_files(tip)
        expect(page.locator("#camera-still")).to_be_visible()
        page.get_by_role("button", name="Use this photo").click()


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_a_search_with_face_and_fingers_goes_through_the_check(
    viewport_name, self_service, faces, fingertips, open_browser
):
    server, _ = self_service
    with checked_console(open_browser, self_service, faces, "search-liveness", viewport_name) as (console, purposes):
        page = console.page
        page.route("**/static/vendor/hands/**", lambda route: route.abort())  # fingertips one at a time
        # On the phone the face model cannot run either (an old phone): the check's steps are timed, and it says so.
        tracking = "timed" if viewport_name.startswith("phone") else "landmarks"
        if tracking == "timed":
            page.route("**/static/vendor/face_detection/**", lambda route: route.abort())
        open_search(console, server, f"CASE-SL-{viewport_name}", "Face and four fingers", check=True)
        # The photo comes only after the check: the shutter is hidden until the server passed a burst.
        expect(page.locator("#capture-title")).to_have_text("Photo to search with")
        expect(page.get_by_role("button", name="Start the check")).to_be_visible(timeout=45_000)
        expect(page.get_by_role("button", name="Take photo", exact=True)).to_be_hidden()
        console.shot("search-check-ready")
        page.get_by_role("button", name="Start the check").click()
        expect(page.locator("#liveness-cue")).to_have_attribute("data-step", re.compile("turn_|look_|move_"))
        console.shot("search-check-step")
        expect(page.locator("#liveness")).to_have_attribute("data-tracking", tracking)
        if tracking == "timed":
            expect(page.locator("#liveness")).to_contain_text("Guidance without face tracking")
        expect(page.locator("#liveness")).to_have_attribute("data-outcome", "passed", timeout=90_000)
        expect(page.locator("#liveness")).to_contain_text("Check passed")
        assert purposes == ["identify"]  # the page asked for the search's own challenge
        console.take_and_send()
        take_fingertips(console, fingertips)
        result = page.locator("#identify-result")
        expect(result).to_be_visible(timeout=300_000)
        # the person enrolled from another photo of the same face: the search sends the case to the reviewers
        expect(result).to_have_attribute("data-status", "sent_for_review")
        expect(result).to_contain_text("passed: the person was present")
        console.shot("search-checked-answer")
        fields = page.evaluate("window.__fields")
        names = [name for name, _ in fields]
        assert names.count("liveness_token") == 1 and names.count("image") == 1, fields
        assert names.count("finger_image") == 4, fields
        assert [value for name, value in fields if name == "finger_position"] == ["2", "3", "4", "5"]


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_fingers_without_the_check_are_refused_before_the_camera_opens(
    viewport_name, self_service, faces, open_browser
):
    server, _ = self_service
    shots = ARTIFACTS / "search-liveness" / viewport_name
    with open_browser(faces["camera"], VIEWPORTS[viewport_name], shots) as browser:
        console = Console(browser, server.url)
        page = console.page
        open_search(console, server, f"CASE-SR-{viewport_name}", "Face and four fingers", check=False)
        error = console.screen("identify").locator(".error")
        expect(error).to_have_attribute("data-code", "liveness_required")
        expect(error).to_contain_text("This gallery needs a liveness check before the photo.")
        expect(error).to_contain_text("Tick 'Check the person is present'")
        expect(console.screen("capture")).to_be_hidden()  # nobody was photographed
        console.shot("search-refused-no-check")

        form = console.screen("identify")
        form.get_by_label("Search with").select_option(label="Four fingers")
        expect(form.get_by_label(re.compile("Check the person is present first"))).to_be_hidden()  # no face to check
        page.get_by_role("button", name="Take photo and search").click()
        expect(error).to_have_attribute("data-code", "liveness_unavailable_for_fingers")
        expect(error).to_contain_text("fingers alone cannot show the person is present")
        expect(console.screen("capture")).to_be_hidden()
        console.shot("search-refused-fingers-alone")


def test_the_search_screen_offers_the_check_beside_the_face(self_service, faces, open_browser):
    """The control sits on the search form as on the verify form, and fits a 360 px phone."""
    server, _ = self_service
    with open_browser(
        faces["camera"], VIEWPORTS["phone-360x740"], ARTIFACTS / "search-liveness" / "phone-360x740"
    ) as browser:
        console = Console(browser, server.url)
        console.sign_in(server.admin_key)
        console.choose_gallery(GALLERY)
        console.home()
        console.page.get_by_role("link", name=re.compile("Search for duplicates")).click()
        check = console.screen("identify").get_by_label(re.compile("Check the person is present first"))
        expect(check).to_be_visible()
        box = check.locator("xpath=..").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
        assert console.page.evaluate("document.documentElement.scrollWidth") <= 360
        console.shot("search-form")


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_an_enrolment_is_refused_before_the_camera_without_the_check_and_goes_through_with_it(
    viewport_name, self_service, faces, open_browser
):
    server, _ = self_service
    with checked_console(open_browser, self_service, faces, "enrol-liveness", viewport_name) as (console, purposes):
        page = console.page
        # Without the face model the check's steps are timed (2.5 s each), not waited out for moves a still never makes.
        page.route("**/static/vendor/face_detection/**", lambda route: route.abort())
        asked: list[dict] = []
        page.on(
            "request",
            lambda request: (
                "/v1/preflight/enrol" in request.url and asked.append(parse_qs(urlsplit(request.url).query))
            ),
        )
        console.sign_in(server.admin_key)
        console.choose_gallery(GALLERY)
        record_consent(console, f"Self-service {viewport_name}", fingers=True)
        enrol = console.screen("enrol")
        error = enrol.locator(".error")

        page.get_by_role("button", name="Take face photo").click()
        expect(error).to_have_attribute("data-code", "liveness_required")
        expect(error).to_contain_text("This gallery needs a liveness check before the photo.")
        expect(error).to_contain_text("Tick 'Check the person is present'")
        expect(console.screen("capture")).to_be_hidden()  # nobody was photographed
        console.shot("enrol-refused-no-check")
        page.get_by_role("button", name="Take finger photo").click()
        expect(error).to_have_attribute("data-code", "liveness_unavailable_for_fingers")
        expect(error).to_contain_text("fingers cannot show the person is present, so none are enrolled here")
        expect(error).to_contain_text("Enrol the face with 'Check the person is present' ticked")
        expect(console.screen("capture")).to_be_hidden()
        console.shot("enrol-refused-fingers")

        enrol.get_by_label(re.compile("Check the person is present first")).check()
        page.get_by_role("button", name="Take face photo").click()
        expect(page.locator("#capture-title")).to_have_text("Face photo for enrolment")
        expect(page.get_by_role("button", name="Start the check")).to_be_visible(timeout=45_000)
        expect(page.get_by_role("button", name="Take photo", exact=True)).to_be_hidden()
        page.get_by_role("button", name="Start the check").click()
        expect(page.locator("#liveness")).to_have_attribute("data-outcome", "passed", timeout=90_000)
        assert purposes == ["enrol"]  # the page asked for the enrolment's own challenge
        console.take_and_send()
        result = page.locator("#enrol-result")
        expect(result).to_contain_text("Face enrolled", timeout=120_000)
        expect(result).to_contain_text("passed: the person was present")
        console.shot("enrol-checked-answer")
        assert [name for name, _ in page.evaluate("window.__fields")].count("liveness_token") == 1
        assert [(query["modality"], query["liveness_check"]) for query in asked] == [
            (["face"], ["false"]),
            (["finger"], ["false"]),
            (["face"], ["true"]),
        ]
