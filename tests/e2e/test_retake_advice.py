"""The console and a photo kept with a retake advised (quality.retake_advised): said after an enrolment, with a
better photo one tap away, and as a hint beside a verification's or a search's answer.

Real photos: LFW's Ahmad_Masood_0002 is turned about 34 degrees, past SFace's retake limit (25) and within its
refusal gate, so it is enrolled with face_turned advice; Ahmad_Masood_0001 faces the camera and gets none. The
camera plays the turned photo; a second photo is given as a phone's camera app gives it (the file input).
Screenshots go to test-artifacts/e2e/retake-<screen size>/.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect

from tessera.face.refusal import MESSAGES
from tessera.face.sface import SFACE_ALGORITHM
from tests.conftest import _require
from tests.e2e.conftest import ARTIFACTS, VIEWPORTS
from tests.e2e.test_consent import record_consent
from tests.e2e.test_console import Console
from tests.e2e.y4m import framed, write_y4m
from tests.service_fixtures import Api

pytestmark = pytest.mark.lfw

ADVICE = f"Enrolled. A better photo is advised: {MESSAGES['face_turned']}"
REPLACED = "This photo replaced the earlier one, which was erased from the person's record."
HINT = f"This photo: {MESSAGES['face_turned']} A retake may give a clearer answer."
HEADLINES = {"match": "Same person", "no_match": "Not confirmed", "inconclusive": "Could not compare"}


@pytest.fixture(scope="module")
def photos(lfw_dir) -> dict[str, Path]:
    folder = lfw_dir / "images" / "Ahmad_Masood"
    return {
        "turned": _require(folder / "Ahmad_Masood_0002.jpg", "LFW image Ahmad_Masood_0002.jpg"),
        "frontal": _require(folder / "Ahmad_Masood_0001.jpg", "LFW image Ahmad_Masood_0001.jpg"),
    }


@pytest.fixture(scope="module")
def turned_camera(tmp_path_factory, photos) -> Path:
    """The camera shows the turned face, framed as a webcam would."""
    return write_y4m(tmp_path_factory.mktemp("retake-camera") / "turned.y4m", framed(Image.open(photos["turned"])))


def as_file(photo: Path, frame: bool = False) -> dict:
    """``photo`` as a phone's camera app hands it to the page; ``frame``: re-framed, so its bytes are new."""
    if not frame:
        return {"name": photo.name, "mimeType": "image/jpeg", "buffer": photo.read_bytes()}
    buffer = io.BytesIO()
    framed(Image.open(photo)).save(buffer, format="JPEG", quality=92)
    return {"name": f"framed-{photo.name}", "mimeType": "image/jpeg", "buffer": buffer.getvalue()}


def admin_api(server) -> tuple[httpx.Client, Api]:
    """A client of ``server`` with its admin key, and the API helpers over it."""
    client = server.api()
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    return client, Api(client, dict.fromkeys(("admin", "enroller"), admin))


def face_captures(server, subject_id: str) -> list[dict]:
    """The subject's SFace templates, oldest first, as the subject-access export lists them."""
    with server.api() as client:
        export = client.get(f"/v1/subjects/{subject_id}/export")
    assert export.status_code == 200, export.text
    return [c for c in export.json()["captures"] if c["algorithm"] == SFACE_ALGORITHM]


def template_ids(server, subject_id: str) -> set[str]:
    """Every template id of the subject's face captures (each algorithm's), as the export lists them."""
    with server.api() as client:
        export = client.get(f"/v1/subjects/{subject_id}/export")
    assert export.status_code == 200, export.text
    return {c["template_id"] for c in export.json()["captures"] if c["modality"] == "face"}


def open_shots(name: str) -> Path:
    shots = ARTIFACTS / name
    for old in shots.glob("*.png"):
        old.unlink()
    return shots


def shutter_ready(console: Console) -> None:
    """The camera runs (the turned face need not satisfy the live guidance: the server decides)."""
    expect(console.page.get_by_role("button", name="Take photo", exact=True)).to_be_enabled(timeout=45_000)


def send_file(console: Console, photo: dict) -> None:
    """Give the open camera screen ``photo`` through its file input and send it."""
    console.page.locator("#file-pick").set_input_files(photo)
    expect(console.page.locator("#camera-still")).to_be_visible()
    console.page.get_by_role("button", name="Use this photo").click()


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_a_face_kept_with_advice_offers_a_better_photo_of_the_same_person(
    viewport_name, server, photos, turned_camera, open_browser
):
    gallery = f"Retake advice ({viewport_name})"
    client, helper = admin_api(server)
    with client:
        helper.gallery(gallery, identification=False)
    with open_browser(turned_camera, VIEWPORTS[viewport_name], open_shots(f"retake-{viewport_name}")) as browser:
        console = Console(browser, server.url)
        page = console.page
        console.sign_in(server.admin_key)
        console.choose_gallery(gallery)
        number = record_consent(console, "Halima Noor")
        with server.api() as lookup:
            subject_id = lookup.get("/v1/subjects/lookup", params={"number": number}).json()["id"]

        # The turned face, from the camera: enrolled, and the notice says a better photo is advised and why.
        page.get_by_role("button", name="Take face photo").click()
        shutter_ready(console)
        console.take_and_send()
        result = page.locator("#enrol-result")
        expect(result).to_contain_text("Face enrolled", timeout=60_000)
        expect(result).to_have_attribute("class", "result good")  # enrolled: not an error
        notice = result.locator(".retake-notice")
        expect(notice).to_be_visible()
        expect(notice).to_have_attribute("data-reason", "face_turned")
        expect(notice).to_contain_text(ADVICE)
        expect(notice).to_contain_text("harder to find later in a duplicate check")
        expect(page.get_by_role("status").filter(has_text=ADVICE)).to_be_visible()  # read out by screen readers
        console.shot("enrolled-retake-advised")
        (kept,) = face_captures(server, subject_id)
        assert kept["quality"]["retake_advised"]["reason"] == "face_turned", kept["quality"]

        # "Take a better photo": the camera again, for the same person; the frontal photo replaces the turned one,
        # which is erased: the record holds the frontal photo only.
        page.get_by_role("button", name="Take a better photo").click()
        expect(page.locator("#capture-title")).to_have_text("A better face photo for enrolment")
        shutter_ready(console)
        console.shot("retake-camera")
        send_file(console, as_file(photos["frontal"]))
        expect(result).to_contain_text(REPLACED, timeout=60_000)
        expect(result).to_contain_text("Face enrolled")
        expect(result.locator(".retake-notice")).to_have_count(0)  # no advice, no notice
        expect(result).not_to_contain_text("A better photo is advised")
        console.shot("better-photo-enrolled")
        (better,) = face_captures(server, subject_id)
        assert better["template_id"] != kept["template_id"] and better["quality"]["retake_advised"] is None, better
        assert kept["template_id"] not in template_ids(server, subject_id)  # gone from the store, every algorithm's

        # Another turned photo, kept as it is: "Keep this photo" puts the notice away; nothing is sent.
        page.get_by_role("button", name="Take another face photo").click()
        shutter_ready(console)
        send_file(console, as_file(photos["turned"]))
        expect(notice).to_contain_text(ADVICE, timeout=60_000)
        page.get_by_role("button", name="Keep this photo").click()
        expect(result.locator(".retake-notice")).to_have_count(0)
        expect(result).to_contain_text("This photo is kept")
        expect(page.get_by_role("button", name="Take another face photo")).to_be_focused()
        console.shot("kept-this-photo")
        assert len(face_captures(server, subject_id)) == 2  # kept beside the better photo: nothing replaced


def test_verify_and_search_answers_give_the_probes_advice_as_a_hint(server, photos, turned_camera, open_browser):
    # A verification states the probe's quality only where the gallery discloses exact figures (a banded answer
    # withholds every figure that moves with the probe, quality included); a search states it in either.
    exact, banded = "Retake hints (exact figures)", "Retake hints"
    client, helper = admin_api(server)
    with client:
        numbers = {}
        for gallery, disclosure in ((exact, "exact"), (banded, None)):
            gallery_id = helper.gallery(gallery, score_disclosure=disclosure)
            subject_id = helper.subject(gallery_id)
            enrolled = helper.enrol(subject_id, photos["frontal"].read_bytes())
            assert enrolled.status_code == 201, enrolled.text
            numbers[gallery] = client.get(f"/v1/subjects/{subject_id}/export").json()["number"]
    number = numbers[exact]
    viewport = VIEWPORTS["phone-360x740"]
    with open_browser(turned_camera, viewport, open_shots("retake-hints")) as browser:
        console = Console(browser, server.url)
        page = console.page
        console.sign_in(server.admin_key)
        console.choose_gallery(exact)

        def verify(photo: dict | None) -> None:
            console.home()
            page.get_by_role("link", name=re.compile("Verify a person")).click()
            page.get_by_label("Tessera number the person gives").fill(number)
            page.get_by_role("button", name="Take photo and compare").click()
            shutter_ready(console)
            if photo is None:
                console.take_and_send()
            else:
                send_file(console, photo)
            expect(page.locator("#verify-result")).to_be_visible(timeout=60_000)  # hidden until this answer comes

        # The turned face from the camera: the decision as always, and the hint beside it.
        verify(None)
        result = page.locator("#verify-result")
        expect(result).to_have_attribute("data-decision", re.compile("^(match|no_match|inconclusive)$"), timeout=60_000)
        expect(result.locator("h2")).to_have_text(HEADLINES[result.get_attribute("data-decision")])
        hint = result.locator(".retake-hint")
        expect(hint).to_have_text(HINT)
        expect(hint).to_have_attribute("data-reason", "face_turned")
        console.shot("verify-hint")

        # A frontal photo: no hint.
        verify(as_file(photos["frontal"], frame=True))
        expect(result).to_have_attribute("data-decision", "match", timeout=60_000)
        expect(result.locator("h2")).to_have_text("Same person")
        expect(result).to_contain_text("Head turn")  # the answer with its quality is shown...
        expect(result.locator(".retake-hint")).to_have_count(0)  # ...and says nothing about a retake
        console.shot("verify-no-hint")

        # A search with the turned face, in a gallery of the default (banded) disclosure: the case as always, and the
        # hint.
        console.choose_gallery(banded)
        console.home()
        page.get_by_role("link", name=re.compile("Search for duplicates")).click()
        page.get_by_label("Why you are searching").select_option("deduplicate")
        page.get_by_label("Case reference").fill("CASE-RETAKE-1")
        page.get_by_role("button", name="Take photo and search").click()
        shutter_ready(console)
        console.take_and_send()
        search = page.locator("#identify-result")
        expect(search).to_have_attribute(
            "data-status", re.compile("^(sent_for_review|no_likely_match)$"), timeout=60_000
        )
        expect(search.locator("h2")).to_have_text(
            "Sent for review" if search.get_attribute("data-status") == "sent_for_review" else "No likely match"
        )
        expect(search.locator(".retake-hint")).to_have_text(HINT)
        console.shot("search-hint")
