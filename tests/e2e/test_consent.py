"""Consent in a real browser, at 360x740 and 1280x800 (issue 15, items 5 and 6; issue 17, item 7).

- The gallery page says whether 1:N is on, how long data is kept, and which consent texts it offers.
- The consent screen offers only the chosen gallery's texts, in the chosen language, the whole text paged
  (one paragraph block per page, "Page n of m", the text's language on the box, nothing in a scroll box),
  only the biometrics the text asks for, and records consent only once every page was shown, with a
  signature drawn on the screen.
- Every refusal the server can give before a capture (unconsented modality, 1:N off, unknown number) is shown
  before any camera starts.

Screenshots go to test-artifacts/e2e/consent-<screen size>/.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, VIEWPORTS
from tests.e2e.test_console import Console

pytestmark = pytest.mark.lfw

CLINIC_TEXT_EN = "\n\n".join(
    [
        "Clinic 4 would like to take photos of your face. Please listen, and ask anything you want to know.",
        "What we keep: a number pattern made from the photos, stored encrypted. The photos are not kept.",
        "What it is for: only to confirm who you are when you come back to this clinic.",
        "Your choice: you can say no and still be served. You can withdraw at any time, and we erase everything.",
    ]
)
CLINIC_TEXT_FR = "\n\n".join(
    [
        "La clinique 4 voudrait photographier votre visage. Écoutez, et posez toutes vos questions.",
        "Ce que nous gardons : un motif chiffré tiré des photos. Les photos ne sont pas gardées.",
        "À quoi cela sert : seulement à confirmer qui vous êtes quand vous revenez à cette clinique.",
        "Votre choix : vous pouvez refuser et être servi quand même. Vous pouvez retirer votre accord à tout moment.",
    ]
)
FOOD_TEXT = "The food distribution asks your consent to take photos of your face and of your fingertips for its lists."


def read_whole_text(console: Console, prefix: str = "") -> None:
    """Go through every page of the consent text, one paragraph block at a time, as the worker does with the
    person; a screenshot of each page when ``prefix`` is given."""
    page = console.page
    status = page.locator("#consent-page-status")
    total = int(re.search(r"of (\d+)", status.text_content()).group(1))
    for number in range(1, total + 1):
        expect(status).to_have_text(f"Page {number} of {total}")
        expect(page.locator("#consent-text .consent-page:visible")).to_have_count(1)
        if prefix:
            console.shot(f"{prefix}-page-{number}-of-{total}")
        if number < total:
            page.get_by_role("button", name="Next page").click()
    if total > 1:
        expect(page.get_by_role("button", name="Next page")).to_be_disabled()


def sign(page: Page) -> None:
    """Draw a signature in the signature box with the pointer."""
    pad = page.locator("#signature-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.6)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(
            box["x"] + box["width"] * (0.1 + step * 0.07), box["y"] + box["height"] * (0.6 - (step % 2) * 0.3)
        )
    page.mouse.up()
    expect(pad).not_to_have_attribute("data-strokes", "0")


def record_consent(console: Console, name: str, *, fingers: bool = False) -> str:
    """Record a person's consent on the console, as a field worker does (to confirming who they are when they come
    back: verification only, so no duplicate check holds their enrolment), registering the console's default text
    first where the server has not seen it; with ``fingers``, to fingers as well as the face. Returns the new
    person's Tessera number, shown on the enrol screen."""
    page = console.page
    console.home()
    page.get_by_role("link", name=re.compile("Enrol a person")).click()
    expect(console.screen("consent")).to_be_visible()
    expect(page.locator("#consent-text")).not_to_be_empty()
    expect(page.locator("#consent-registered")).not_to_be_empty()
    register = page.get_by_role("button", name=re.compile("Register this text"))
    if register.is_visible():  # the first test on a server registers the console's default text
        register.click()
    expect(page.locator("#consent-registered")).to_have_text("✓ registered on the server")
    if fingers:
        finger = page.locator('input[name="modality"][value="finger"]')
        expect(finger).to_be_enabled()  # the server offers finger enrolment
        finger.check()
    page.get_by_label("confirm who they are when they come back").check()
    page.get_by_label("Name of the person who signed").fill(name)
    page.get_by_label("The person heard or read the text above and agreed").check()
    read_whole_text(console)
    sign(page)
    page.get_by_role("button", name="Record consent").click()
    expect(console.screen("enrol")).to_be_visible()
    return page.locator("#enrol-subject").text_content().strip()


def camera_never_started(console: Console) -> None:
    expect(console.screen("capture")).to_be_hidden()
    assert console.page.evaluate("document.querySelector('#camera-video').srcObject === null")


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_consent_texts_paged_evidence_and_checks_before_the_camera(viewport_name, server, camera_files, open_browser):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / f"consent-{viewport_name}"
    for old in shots.glob("*.png"):
        old.unlink()
    clinic_name, food_name = f"Clinic 4 ({viewport_name})", f"Food distribution ({viewport_name})"
    with server.api() as api:
        clinic = api.post("/v1/galleries", json={"name": clinic_name, "purpose": "Health records"}).json()["id"]
        food = api.post("/v1/galleries", json={"name": food_name, "purpose": "Food distribution"}).json()["id"]
        version = f"clinic-4-{viewport_name}"
        # Each screen size's gallery has its own wording (a text is registered once, by its SHA-256).
        french = f"{CLINIC_TEXT_FR} ({viewport_name})"
        for language, text in (("en", f"{CLINIC_TEXT_EN} ({viewport_name})"), ("fr", french)):
            body = {
                "version": version,
                "text": text,
                "language": language,
                "gallery_id": clinic,
                "modalities": ["face"],
                "purposes": ["verify"],
            }
            assert api.post("/v1/consent-texts", json=body).status_code == 201
        food_text = {
            "version": f"food-{viewport_name}",
            "text": f"{FOOD_TEXT} ({viewport_name})",
            "gallery_id": food,
            "modalities": ["face", "finger"],
            "purposes": ["verify", "deduplicate"],
        }
        assert api.post("/v1/consent-texts", json=food_text).status_code == 201
        accepted = {"accepted": ["signature", "spoken_witnessed"]}
        assert api.put(f"/v1/galleries/{clinic}/consent-evidence", json=accepted).status_code == 200

    with open_browser(camera_files["wall"], viewport, shots) as browser:
        console = Console(browser, server.url)
        page = console.page
        console.sign_in(server.admin_key)
        console.choose_gallery(clinic_name)

        # --- The gallery page: 1:N off, retention, the texts bound to it ------------------------------
        page.goto(server.url + "/#gallery")
        settings = page.locator("#gallery-settings")
        expect(settings).to_be_visible()
        expect(settings).to_have_attribute("data-identification", "false")
        expect(settings).to_contain_text("Off: only 1:1 verification")
        expect(settings).to_contain_text("At most 1095 days")
        expect(settings).to_contain_text(version)
        expect(settings).not_to_contain_text(f"food-{viewport_name}")
        expect(settings).to_contain_text("Signature drawn on this screen")
        console.shot("gallery-settings")

        # --- The consent screen: this gallery's texts, in the chosen language, paged -------------------
        console.home()
        page.get_by_role("link", name=re.compile("Enrol a person")).click()
        expect(console.screen("consent")).to_be_visible()
        expect(page.locator("#consent-registered")).to_have_text("✓ registered on the server")
        offered = page.locator("#consent-choice option").all_text_contents()
        assert not any("food-" in option for option in offered), offered
        language = page.get_by_label("Language the person reads or hears")
        expect(language).to_be_visible()
        language.select_option("fr")
        expect(page.locator("#consent-text")).to_have_attribute("lang", "fr")
        expect(page.locator("#consent-page-status")).to_have_text("Page 1 of 4")
        # The whole text is in the page, each block in turn, and its fingerprint is that of the text shown.
        shown = page.locator("#consent-text").text_content()
        assert shown == french
        assert page.locator("#consent-sha").get_attribute("data-sha256") == hashlib.sha256(shown.encode()).hexdigest()
        overflow = page.evaluate(
            "(() => { const box = document.querySelector('#consent-text-box');"
            " return getComputedStyle(box).overflowY + ':' + (box.scrollHeight - box.clientHeight); })()"
        )
        assert overflow.split(":")[0] == "visible" and int(overflow.split(":")[1]) <= 1, overflow  # no scroll box
        font_px = float(page.evaluate("getComputedStyle(document.querySelector('.consent-page')).fontSize")[:-2])
        assert font_px >= 22, font_px  # large type
        # A face-only text cannot consent to fingers: the box cannot be ticked.
        expect(page.locator('#consent-form input[name="modality"][value="finger"]')).to_be_disabled()
        expect(page.locator('#consent-form input[name="purpose"][value="deduplicate"]')).to_be_disabled()

        page.get_by_label("confirm who they are when they come back").check()
        page.get_by_label("Name of the person who signed").fill("Awa Diallo")
        page.get_by_label("The person heard or read the text above and agreed").check()
        page.get_by_role("button", name="Record consent").click()
        error = console.screen("consent").locator(".error")
        expect(error).to_have_attribute("data-code", "consent_not_read")
        console.shot("consent-not-read-yet")
        read_whole_text(console, prefix="consent-fr")
        # Typed name is not accepted in this gallery: the signature pad is offered first.
        expect(page.get_by_label("Name typed by me only")).to_have_count(0)
        page.get_by_role("button", name="Record consent").click()
        expect(error).to_have_attribute("data-code", "evidence_missing")
        sign(page)
        console.shot("consent-signed")
        page.get_by_role("button", name="Record consent").click()
        expect(console.screen("enrol")).to_be_visible()
        subject_id = page.locator("#enrol-subject").text_content().strip()

        # --- Refusals before the camera -----------------------------------------------------------------
        finger = page.get_by_role("button", name="Take finger photo")
        if finger.is_visible():  # the server offers finger enrolment: the person did not consent to fingers
            finger.click()
            enrol_error = console.screen("enrol").locator(".error")
            expect(enrol_error).to_have_attribute("data-code", "modality_not_consented")
            expect(enrol_error).to_contain_text("did not agree to give this kind of photo")
            camera_never_started(console)
            console.shot("refused-fingers-before-camera")

        console.home()
        page.get_by_role("link", name=re.compile("Search for duplicates")).click()
        page.get_by_label("Why you are searching").select_option("deduplicate")
        page.get_by_label("Case reference").fill("CASE-77")
        page.get_by_role("button", name="Take photo and search").click()
        identify_error = console.screen("identify").locator(".error")
        expect(identify_error).to_have_attribute("data-code", "identification_not_enabled")
        expect(identify_error).to_contain_text("Duplicate search is switched off for this gallery.")
        camera_never_started(console)
        console.shot("refused-search-off-before-camera")

        console.home()
        page.get_by_role("link", name=re.compile("Verify a person")).click()
        page.get_by_label("Tessera number the person gives").fill("00000000-0000-4000-8000-000000000000")
        page.get_by_role("button", name="Take photo and compare").click()
        verify_error = console.screen("verify").locator(".error")
        expect(verify_error).to_have_attribute("data-code", "subject_not_found")
        camera_never_started(console)
        page.get_by_label("Tessera number the person gives").fill(subject_id)
        page.get_by_role("button", name="Take photo and compare").click()
        expect(verify_error).to_have_attribute("data-code", "no_reference")  # nothing enrolled yet
        camera_never_started(console)
        console.shot("refused-no-reference-before-camera")
        assert not browser.errors, browser.errors

    with server.api() as api:
        proof = api.get(f"/v1/subjects/{subject_id}/consent").json()
    assert proof["consent"]["text_language"] == "fr" and proof["text"]["text"] == french
    evidence = proof["consent"]["evidence"]
    assert evidence["kind"] == "signature"
    assert base64.b64decode(evidence["image"].split(",", 1)[1]).startswith(b"\x89PNG")


def thumbprint_mark_png() -> bytes:
    """A photo of an ink thumbprint mark on paper, as a phone camera would give it (a grey oval of ridges)."""
    import io

    import numpy as np
    from PIL import Image

    rows, cols = np.mgrid[0:240, 0:320]
    inside = ((rows - 120) / 100) ** 2 + ((cols - 160) / 70) ** 2 < 1
    ridges = (np.sin(np.hypot(rows - 140, cols - 160) / 3.0) > 0) & inside
    paper = np.where(ridges, 40, 235).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_spoken_consent_with_a_witness_and_a_thumbprint_mark(viewport_name, server, camera_files, open_browser):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / f"consent-evidence-{viewport_name}"
    for old in shots.glob("*.png"):
        old.unlink()
    name = f"Outreach ({viewport_name})"
    with server.api() as api:
        gallery = api.post("/v1/galleries", json={"name": name, "purpose": "Outreach"}).json()["id"]
        text = {
            "version": f"outreach-{viewport_name}",
            "gallery_id": gallery,
            "modalities": ["face"],
            "purposes": ["verify"],
            "text": f"Outreach asks your consent to a photo of your face. ({viewport_name})",
        }
        assert api.post("/v1/consent-texts", json=text).status_code == 201
        accepted = {"accepted": ["thumbprint_mark", "spoken_witnessed"]}
        assert api.put(f"/v1/galleries/{gallery}/consent-evidence", json=accepted).status_code == 200
        witness = api.post("/v1/keys", json={"role": "enroller", "label": "second worker"}).json()

    with open_browser(camera_files["wall"], viewport, shots) as browser:
        console = Console(browser, server.url)
        page = console.page
        console.sign_in(server.admin_key)
        console.choose_gallery(name)
        subjects = []
        for evidence in ("spoken_witnessed", "thumbprint_mark"):
            console.home()
            page.get_by_role("link", name=re.compile("Enrol a person")).click()
            expect(page.locator("#consent-registered")).to_have_text("✓ registered on the server")
            read_whole_text(console)
            page.get_by_label("confirm who they are when they come back").check()
            page.get_by_label("Name of the person who signed").fill(f"Person {evidence}")
            page.get_by_label("The person heard or read the text above and agreed").check()
            error = console.screen("consent").locator(".error")
            if evidence == "spoken_witnessed":
                page.get_by_label("Spoken consent, heard by a second worker").check()
                page.get_by_label("Second worker's key").fill(server.admin_key)  # the recorder cannot witness
                page.get_by_role("button", name="Record consent").click()
                expect(error).to_have_attribute("data-code", "witness_is_recorder")
                expect(error).to_contain_text("The witness must be a second worker.")
                console.shot("witness-is-the-recorder")
                page.get_by_label("Second worker's key").fill(witness["key"])
                console.shot("spoken-consent-witnessed")
            else:
                page.get_by_label("Photo of a thumbprint mark on paper").check()
                page.locator("#thumbprint-pick").set_input_files(
                    files=[{"name": "mark.png", "mimeType": "image/png", "buffer": thumbprint_mark_png()}]
                )
                expect(page.locator("#thumbprint-preview")).to_be_visible()
                console.shot("thumbprint-mark")
            page.get_by_role("button", name="Record consent").click()
            expect(console.screen("enrol")).to_be_visible()
            subjects.append(page.locator("#enrol-subject").text_content().strip())
        assert not browser.errors, browser.errors

    with server.api() as api:
        spoken = api.get(f"/v1/subjects/{subjects[0]}/consent").json()["consent"]["evidence"]
        mark = api.get(f"/v1/subjects/{subjects[1]}/consent").json()["consent"]["evidence"]
    assert spoken == {"kind": "spoken_witnessed", "witness_key_id": witness["id"], "image_sha256": None}
    assert mark["kind"] == "thumbprint_mark" and mark["image"].startswith("data:image/jpeg;base64,")
