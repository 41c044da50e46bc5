"""The console's non-biometric path in a real browser (issue 17, item 4): a person who gives no biometrics is
registered by an enroller and served by a verifier, at 360x740 and 1280x800, the camera never opened.

Screenshots go to test-artifacts/e2e/<screen size>/people-*.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, VIEWPORTS
from tests.e2e.y4m import plain_wall, write_y4m


@pytest.fixture(scope="module")
def wall(tmp_path_factory):
    """A fake camera with nothing in view: this path never needs one."""
    return write_y4m(tmp_path_factory.mktemp("people-camera") / "wall.y4m", plain_wall())


def sign_in(page: Page, url: str, key: str, gallery: str) -> None:
    page.goto(url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_be_visible()
    page.goto(url + "/#gallery")
    expect(page.locator('[data-screen="gallery"]')).to_have_attribute("data-loaded", "true")
    page.get_by_label("Work in this gallery").select_option(label=gallery)
    page.get_by_role("button", name="Use this gallery").click()
    expect(page.locator("#home-gallery")).to_have_text(gallery)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_a_person_without_biometrics_is_registered_and_served(viewport_name, server, wall, open_browser):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / viewport_name
    gallery = f"Clinic without biometrics ({viewport_name})"
    card = f"CARD-{viewport[0]}-0042"
    with server.api() as admin:
        made = admin.post("/v1/galleries", json={"name": gallery, "purpose": "Health care"})
        assert made.status_code == 201, made.text
        keys = {role: admin.post("/v1/keys", json={"role": role}).json()["key"] for role in ("enroller", "verifier")}

    # The enroller: not yet allowed, then allowed by an admin, then registered with the reason the person chose.
    with open_browser(wall, viewport, shots) as browser:
        page = browser.page
        sign_in(page, server.url, keys["enroller"], gallery)
        page.get_by_role("link", name=re.compile("Without biometrics")).click()
        screen = page.locator('[data-screen="nonbiometric"]')
        expect(screen).to_be_visible()
        page.get_by_label("Programme id or card number", exact=True).first.fill(card)
        page.get_by_role("button", name="Register without biometrics").click()
        expect(screen.locator(".error")).to_contain_text("Something on the form is missing")  # no reason chosen
        page.get_by_label(re.compile("chose not to give")).check()
        page.get_by_role("button", name="Register without biometrics").click()
        expect(screen.locator(".error")).to_contain_text("does not register people without biometrics")
        with server.api() as admin:
            [gallery_id] = [
                g["gallery_id"] for g in admin.get("/v1/policy/retention").json()["galleries"] if g["name"] == gallery
            ]
            assert admin.put(f"/v1/galleries/{gallery_id}/non-biometric", json={"allowed": True}).status_code == 200
        page.get_by_role("button", name="Register without biometrics").click()
        result = page.locator("#nb-result")
        expect(result).to_contain_text("Registered without biometrics")
        expect(result).to_contain_text(card)
        expect(result).to_contain_text("chose not to give")
        record_number = result.locator("dd").first.inner_text()
        assert re.fullmatch(r"[0-9a-f-]{36}", record_number), record_number
        no_sideways_scroll(page)
        browser.shot("people-registered-without-biometrics")
        assert page.evaluate("document.body.dataset.current") == "nonbiometric"  # no capture screen was opened

    # The verifier at the distribution point: finds the person by their card and records the service.
    with open_browser(wall, viewport, shots) as browser:
        page = browser.page
        sign_in(page, server.url, keys["verifier"], gallery)
        page.get_by_role("link", name=re.compile("Without biometrics")).click()
        page.get_by_label("Programme id or card number", exact=True).last.fill(card)
        page.get_by_label("Record number (if the person has it)").fill(record_number)
        page.get_by_role("button", name="Find and record service").click()
        result = page.locator("#nb-result")
        expect(result).to_contain_text("Found. The service is recorded.")
        expect(result).to_contain_text("1 time(s)")
        page.get_by_label("Programme id or card number", exact=True).last.fill("CARD-NOT-HERE")
        page.get_by_role("button", name="Find and record service").click()
        expect(page.locator('[data-screen="nonbiometric"] .error')).to_contain_text("No one is registered")
        no_sideways_scroll(page)
        browser.shot("people-served-without-biometrics")
