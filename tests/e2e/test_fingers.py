"""Fingers in the console: the finger controls appear once the server offers finger enrolment, and a
fingertip photo goes up with the chosen finger position and ``capture=contactless``.

The camera plays a plain wall, so the server refuses the photo as ``not_a_finger``; the console must
show that refusal in the server's words on the camera screen, which stays open for another photo (a field
the server did not get would be a validation error instead, and a face refusal would mean the photo went to
the face route).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tessera.finger.refusal import MESSAGES
from tests.e2e.conftest import ARTIFACTS, VIEWPORTS
from tests.e2e.test_consent import record_consent
from tests.e2e.test_console import Console

pytestmark = pytest.mark.lfw


def test_a_fingertip_photo_is_sent_with_its_finger_and_a_refusal_is_shown_in_words(server, camera_files, open_browser):
    shots = ARTIFACTS / "fingers"
    for old in shots.glob("*.png"):
        old.unlink()
    with open_browser(camera_files["wall"], VIEWPORTS["phone-360x740"], shots) as browser:
        console = Console(browser, server.url)
        page = console.page
        # Record the text fields of every form the page sends (Chromium does not expose multipart bodies).
        page.add_init_script(
            "window.__fields = []; const append = FormData.prototype.append;"
            "FormData.prototype.append = function (name, value, ...rest) {"
            "  if (typeof value === 'string') window.__fields.push([name, value]);"
            "  return append.call(this, name, value, ...rest); };"
        )
        console.sign_in(server.admin_key)
        expect(console.screen("gallery")).to_have_attribute("data-loaded", "true")
        if not page.get_by_label("Gallery name").is_visible():
            page.get_by_text("Create a gallery (admin)").click()
        page.get_by_label("Gallery name").fill("Clinic fingers")
        page.get_by_label("Programme purpose").fill("Health records")
        page.get_by_role("button", name="Create gallery").click()
        expect(console.screen("gallery").locator(".ok")).to_contain_text("created and chosen")

        subject_id = record_consent(console, "Juma Otieno", fingers=True)

        page.get_by_label("Which finger").select_option(label="Left index")
        console.shot("finger-chosen")
        page.get_by_role("button", name="Take finger photo").click()
        expect(page.locator("#capture-title")).to_have_text("Left index: fingertip photo for enrolment")
        expect(page.get_by_role("button", name="Take photo", exact=True)).to_be_enabled(timeout=45_000)
        console.take_and_send()
        # The fix is another photo: the camera stays open with the refusal under the photo.
        error = console.screen("capture").locator(".error")
        # A wall is no finger: not "out of focus", which would send the person hunting for sharper ridges.
        expect(error).to_have_attribute("data-code", "not_a_finger", timeout=60_000)
        expect(error).to_contain_text(MESSAGES["not_a_finger"])
        console.shot("finger-refused")
        fields = dict(page.evaluate("window.__fields"))
        assert fields.get("finger_position") == "7" and fields.get("capture") == "contactless", fields
        with server.api() as api:
            export = api.get(f"/v1/subjects/{subject_id}/export").json()
        assert export["captures"] == []  # nothing written for a refused photo
