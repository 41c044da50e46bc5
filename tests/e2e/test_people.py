"""The console's non-biometric path in a real browser (issue 17, item 4): a person who gives no biometrics is
registered by an enroller and served by a verifier, also after an admin stops new registrations without
biometrics, and withdraws (the enroller erases the record after a confirmation and hands over the receipt), at
360x740 and 1280x800, the camera never opened.

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
        expect(screen.locator(".error")).to_contain_text("does not register new people without biometrics")
        expect(screen.locator(".error")).to_contain_text("already registered without biometrics are still served")
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
        expect(page.locator("#nb-withdraw")).to_have_count(0)  # a verifier may not erase: no Withdraw action
        # An admin stops new registrations without biometrics: the person already registered is still served.
        with server.api() as admin:
            assert admin.put(f"/v1/galleries/{gallery_id}/non-biometric", json={"allowed": False}).status_code == 200
        page.get_by_label("Programme id or card number", exact=True).last.fill(card)
        page.get_by_role("button", name="Find and record service").click()
        expect(result).to_contain_text("2 time(s)")
        page.get_by_label("Programme id or card number", exact=True).last.fill("CARD-NOT-HERE")
        page.get_by_role("button", name="Find and record service").click()
        expect(page.locator('[data-screen="nonbiometric"] .error')).to_contain_text("No one is registered")
        no_sideways_scroll(page)
        browser.shot("people-served-without-biometrics")


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_a_person_without_biometrics_withdraws_and_the_record_is_erased(viewport_name, server, wall, open_browser):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / viewport_name
    gallery = f"Withdrawals without biometrics ({viewport_name})"
    card = f"CARD-{viewport[0]}-0777"
    with server.api() as admin:
        gallery_id = admin.post("/v1/galleries", json={"name": gallery, "purpose": "Health care"}).json()["id"]
        assert admin.put(f"/v1/galleries/{gallery_id}/non-biometric", json={"allowed": True}).status_code == 200
        enroller = admin.post("/v1/keys", json={"role": "enroller"}).json()["key"]
        body = {"gallery_id": gallery_id, "programme_id": card, "reason": "declined"}
        record = admin.post("/v1/non-biometric", json=body).json()["record_id"]

    with open_browser(wall, viewport, shots) as browser:
        page = browser.page
        sign_in(page, server.url, enroller, gallery)
        page.get_by_role("link", name=re.compile("Without biometrics")).click()
        page.get_by_label("Programme id or card number", exact=True).last.fill(card)
        page.get_by_label("Record number (if the person has it)").fill(record)
        page.get_by_role("button", name="Find and record service").click()
        result = page.locator("#nb-result")
        expect(result).to_contain_text("Found. The service is recorded.")
        # Asked first; "No, keep" keeps it.
        page.get_by_role("button", name=re.compile("Withdraw: erase this record")).click()
        confirm = page.locator("#nb-withdraw-confirm")
        expect(confirm).to_be_visible()
        expect(confirm).to_contain_text(f"Erase the record of {card} for good?")
        browser.shot("people-withdraw-asked")
        page.get_by_role("button", name="No, keep").click()
        expect(confirm).to_be_hidden()
        page.get_by_role("button", name=re.compile("Withdraw: erase this record")).click()
        page.get_by_role("button", name="Yes, erase for good").click()
        expect(result).to_contain_text("Withdrawn: the record is erased.")
        expect(result).to_contain_text(record)
        fingerprint = result.locator("dd").last.inner_text()
        assert re.fullmatch(r"[0-9a-f]{64}", fingerprint), fingerprint
        no_sideways_scroll(page)
        browser.shot("people-withdrawn-receipt")
        # Served no more: the number says the person withdrew.
        page.get_by_label("Programme id or card number", exact=True).last.fill(card)
        page.get_by_label("Record number (if the person has it)").fill(record)
        page.get_by_role("button", name="Find and record service").click()
        expect(page.locator('[data-screen="nonbiometric"] .error')).to_contain_text("the person withdrew")
        assert not browser.errors, browser.errors
    with server.api() as client:
        again = client.delete(f"/v1/non-biometric/{record}")  # a retry answers the receipt the console showed
        assert again.status_code == 200 and again.json()["receipt_sha256"] == fingerprint


def _confirmed_match(server, lfw_dir, gallery: str) -> dict[str, str]:
    """Through the API: a gallery, a person enrolled, found again by a search and confirmed by two trained
    reviewers; answers the keys of the enroller and of two other trained reviewers."""
    from tests.service_fixtures import SHARED_TEXT, consent

    photos = sorted((lfw_dir / "images" / "Colin_Powell").glob("*.jpg"))[:2]
    if len(photos) < 2:
        pytest.skip("LFW has fewer than 2 photos of Colin_Powell here")
    with server.api() as admin:
        gallery_id = admin.post("/v1/galleries", json={"name": gallery, "purpose": "Food distribution"}).json()["id"]
        admin.post("/v1/consent-texts", json=SHARED_TEXT)  # 409 once registered
        assert admin.post(f"/v1/galleries/{gallery_id}/identification", json={"dpia_reference": "DPIA-7"}).is_success
        made = {role: admin.post("/v1/keys", json={"role": role}).json() for role in ("enroller", "admin")}
        reviewers = [admin.post("/v1/keys", json={"role": "adjudicator"}).json() for _ in range(4)]
    second_admin = {"Authorization": f"Bearer {made['admin']['key']}"}
    enroller = {"Authorization": f"Bearer {made['enroller']['key']}"}
    with server.api() as client:
        span = {"course": "Face review", "completed_at": "2026-01-01T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z"}
        for reviewer in reviewers:  # the keys' creator may not attest them: the second admin does
            attested = client.post(f"/v1/adjudicators/{reviewer['id']}/training", json=span, headers=second_admin)
            assert attested.status_code == 201, attested.text
        subject = client.post("/v1/subjects", json={"gallery_id": gallery_id, "consent": consent()}, headers=enroller)
        subject_id = subject.json()["id"]
        enrolled = client.post(
            f"/v1/subjects/{subject_id}/faces", files={"image": ("a.jpg", photos[0].read_bytes())}, headers=enroller
        )
        assert enrolled.status_code == 201, enrolled.text
        search = client.post(
            "/v1/identify",
            data={"gallery_id": gallery_id, "purpose": "deduplicate", "case_reference": "CASE-E2E"},
            files={"image": ("b.jpg", photos[1].read_bytes())},
            headers=enroller,
        ).json()["search_id"]
        for reviewer in reviewers[:2]:
            headers = {"Authorization": f"Bearer {reviewer['key']}"}
            [candidate] = client.get(f"/v1/searches/{search}/review", headers=headers).json()["candidates"]
            decided = client.post(
                f"/v1/searches/{search}/candidates/{candidate['candidate_id']}/decision",
                json={"decision": "confirm", "rationale": "Same face shape, same hairline."},
                headers=headers,
            )
            assert decided.status_code == 200, decided.text
    return {"enroller": made["enroller"]["key"], "third": reviewers[2]["key"], "fourth": reviewers[3]["key"]}


@pytest.mark.lfw
@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_a_person_contests_a_finding_and_other_reviewers_correct_it(viewport_name, server, wall, open_browser, lfw_dir):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / viewport_name
    gallery = f"Contested gallery ({viewport_name})"
    keys = _confirmed_match(server, lfw_dir, gallery)

    with open_browser(wall, viewport, shots) as browser:  # the field worker hands over the notice; the person contests
        page = browser.page
        sign_in(page, server.url, keys["enroller"], gallery)
        page.get_by_role("link", name=re.compile("Notices and contests")).click()
        page.get_by_role("button", name="Show notices for this gallery").click()
        notice = page.locator("#people-notices .notice").first
        expect(notice).to_contain_text("two trained reviewers decided that it matches your record")
        notice.get_by_role("button", name="Mark as handed over").click()
        expect(notice).to_contain_text("Handed over to the person.")
        notice.get_by_label("The person contests it: why, in their words").fill("I registered only once, in March.")
        notice.get_by_role("button", name="Open a contest").click()
        expect(page.locator("#people-notices .notice").first).to_contain_text("opened")
        no_sideways_scroll(page)
        browser.shot("people-contest-opened")

    with open_browser(wall, viewport, shots) as browser:  # a reviewer who took no part re-reviews it
        page = browser.page
        sign_in(page, server.url, keys["third"], gallery)
        page.get_by_role("link", name=re.compile("Notices and contests")).click()
        page.get_by_role("button", name="Show contests waiting for me").click()
        contest = page.locator(".contest").first
        expect(contest).to_contain_text("I registered only once, in March.")
        contest.get_by_label("Why (your own words)").fill("The jaw and the ears differ on close comparison.")
        contest.get_by_role("button", name=re.compile("It does not match")).click()
        expect(page.locator(".contest, #people-contests .ok").first).to_contain_text("Another reviewer decides too")
        no_sideways_scroll(page)
        browser.shot("people-contest-re-reviewed")

    with server.api() as client:  # the second re-review decides: the finding is corrected
        fourth = {"Authorization": f"Bearer {keys['fourth']}"}
        [waiting] = client.get("/v1/contests", headers=fourth).json()["contests"]
        decided = client.post(
            f"/v1/contests/{waiting['contest_id']}/decision",
            json={"decision": "reject", "rationale": "Different person: the eyes are set differently."},
            headers=fourth,
        )
        assert decided.json()["outcome"] == "overturned", decided.text

    with open_browser(wall, viewport, shots) as browser:  # the person is told the finding was corrected
        page = browser.page
        sign_in(page, server.url, keys["enroller"], gallery)
        page.get_by_role("link", name=re.compile("Notices and contests")).click()
        page.get_by_role("button", name="Show notices for this gallery").click()
        expect(page.locator("#people-notices .notice").first).to_contain_text(
            "found it was wrong. It has been corrected"
        )
        browser.shot("people-finding-corrected")


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_a_complaint_is_recorded_by_a_worker_and_handled_by_an_admin(viewport_name, server, wall, open_browser):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / viewport_name
    gallery = f"Complaints ({viewport_name})"
    words = f"My card was stopped and nobody told me why ({viewport_name})."
    with server.api() as admin:
        assert admin.post("/v1/galleries", json={"name": gallery, "purpose": "Food distribution"}).status_code == 201
        enroller = admin.post("/v1/keys", json={"role": "enroller"}).json()["key"]

    with open_browser(wall, viewport, shots) as browser:
        page = browser.page
        sign_in(page, server.url, enroller, gallery)
        page.get_by_role("link", name=re.compile("Notices and contests")).click()
        expect(page.locator("#people-load-complaints")).to_be_hidden()  # the queue is for admins
        page.get_by_label("What the person complains of, in their words").fill(words)
        page.get_by_role("button", name="Record the complaint").click()
        expect(page.locator("#people-result")).to_contain_text("recorded. Give the person this number.")
        browser.shot("people-complaint-recorded")

    with open_browser(wall, viewport, shots) as browser:
        page = browser.page
        sign_in(page, server.url, server.admin_key, gallery)
        page.get_by_role("link", name=re.compile("Notices and contests")).click()
        page.get_by_role("button", name="Show open complaints").click()
        card = page.locator(".complaint", has_text=words)
        card.get_by_role("button", name="Acknowledge").click()
        card = page.locator(".complaint", has_text=words)
        expect(card).to_contain_text("acknowledged")
        card.get_by_label("What was done, or why it is rejected").fill("Card restored; the worker explained the rule.")
        card.get_by_role("button", name="Resolved").click()
        expect(page.locator(".complaint", has_text=words)).to_contain_text("resolved")
        no_sideways_scroll(page)
        browser.shot("people-complaint-resolved")
