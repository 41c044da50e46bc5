"""Subject numbers in the browser: checked as typed and by the server before the camera opens; the printable card.

At 360x740 and 1280x800. The console's check (static/numbers.js) is compared with the server's
(tessera/governance/numbers.py) on the same inputs, every single-character typo included; the card shown after
consent is screenshotted and its QR code decoded back to the number. Screenshots go to
test-artifacts/e2e/<screen size>-numbers/.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from tessera.governance.numbers import CHECK_SYMBOLS, new_number, number_is_valid
from tests.e2e.conftest import ARTIFACTS, VIEWPORTS
from tests.e2e.test_consent import record_consent
from tests.e2e.test_console import Console

pytestmark = pytest.mark.lfw


def _typos(number: str) -> list[str]:
    """Every single-character substitution of ``number``'s check character and of its first payload character,
    and every swap of neighbours."""
    canonical = number.replace("-", "").removeprefix("TSR")
    typos = [canonical[:10] + s for s in CHECK_SYMBOLS if s != canonical[10]]
    typos += [s + canonical[1:] for s in CHECK_SYMBOLS[:32] if s != canonical[0]]
    typos += [canonical[:i] + canonical[i + 1] + canonical[i] + canonical[i + 2 :] for i in range(10)]
    return [t for t in typos if t != canonical]


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_numbers_are_checked_before_the_camera_and_the_card_prints(viewport_name, server, camera_files, open_browser):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / f"{viewport_name}-numbers"
    for old in shots.glob("*.png"):
        old.unlink()
    gallery_name = f"Numbers ({viewport_name})"
    with server.api() as api:
        created = api.post("/v1/galleries", json={"name": gallery_name, "purpose": "Food distribution"})
        assert created.status_code == 201, created.text

    with open_browser(camera_files["wall"], viewport, shots) as browser:
        browser.page.add_init_script("window.print = () => { window.__printed = (window.__printed || 0) + 1; };")
        console = Console(browser, server.url)
        page = console.page
        console.sign_in(server.admin_key)
        console.choose_gallery(gallery_name)

        # The browser's check agrees with the server's on valid numbers, typos, and confusable spellings.
        cases = [new_number() for _ in range(20)]
        cases += _typos(cases[0]) + [
            cases[1].lower().replace("-", ""),
            "TSR-1234",
            "5792e813-c77f-4cbf-ad2e-6fed7062f7a9",
        ]
        in_browser = page.evaluate(
            "async (cases) => { const m = await import('/static/numbers.js');"
            " return cases.map((c) => m.checkNumber(c).ok); }",
            cases,
        )
        expected = [number_is_valid(c) or len(c) == 36 for c in cases]
        assert in_browser == expected

        # Consent through the console, then the card.
        number = record_consent(console, "Grace Achieng")
        assert number_is_valid(number), number
        page.get_by_role("button", name="Print card").click()
        card = page.locator("#enrol-card img")
        expect(card).to_be_visible()
        assert page.evaluate("window.__printed") == 1
        console.shot("card")
        pixels = cv2.imdecode(np.frombuffer(card.screenshot(), np.uint8), cv2.IMREAD_GRAYSCALE)
        decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(pixels)
        assert decoded == number

        # Verify: a typo is caught while typing and on submit, and the camera never opens.
        console.home()
        page.get_by_role("link", name=re.compile("Verify a person")).click()
        field = page.get_by_label("Tessera number the person gives")
        typo = _typos(number)[0]
        field.fill(typo)
        expect(page.locator("#verify-subject-hint")).to_contain_text("typo")
        expect(field).to_have_attribute("aria-invalid", "true")
        page.get_by_role("button", name="Take photo and compare").click()
        error = console.screen("verify").locator(".error")
        expect(error).to_have_attribute("data-code", "number_check_failed")
        expect(console.screen("capture")).to_be_hidden()
        console.shot("verify-typo-caught")

        # A valid number no one holds: the server says so, still before the camera.
        unknown = next(n for n in (new_number() for _ in range(10)) if n != number)
        field.fill(unknown.lower())
        expect(page.locator("#verify-subject-hint")).to_contain_text(unknown)
        page.get_by_role("button", name="Take photo and compare").click()
        expect(error).to_have_attribute("data-code", "subject_not_found")
        expect(console.screen("capture")).to_be_hidden()
        console.shot("verify-unknown-number")

        # The right number, typed as people do (lower case, no hyphens, O for 0): accepted and found; the person
        # has no face enrolled yet, which the checks before the camera say (the camera stays closed).
        field.fill(number.lower().replace("-", "").replace("0", "o"))
        expect(page.locator("#verify-subject-hint")).to_contain_text(number)
        page.get_by_role("button", name="Take photo and compare").click()
        expect(error).to_have_attribute("data-code", "no_reference")
        expect(console.screen("capture")).to_be_hidden()
        console.shot("verify-number-accepted-nothing-enrolled")
