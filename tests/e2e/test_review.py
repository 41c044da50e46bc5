"""The reviewer's workbench in a real browser (issue 15): an adjudicator signs in to their own screen, takes the
oldest case, compares the probe with the candidate's reference photo, decides with a rationale, and the case
moves on; a second adjudicator, blind to the first, confirms, and only then is the person named to the
requester. Screenshots go to test-artifacts/e2e/review/<screen size>/.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, VIEWPORTS
from tests.e2e.test_console import Console

pytestmark = pytest.mark.lfw

PHOTO_TEXT = (
    "I agree that my face may be used to verify who I am and to check I am not enrolled twice. One photo of my "
    "face is kept, sealed, so that two trained reviewers can check a possible duplicate; it is erased with my "
    "record when I withdraw or when the programme ends."
)


def _adjudicator(api: httpx.Client, label: str, gallery_id: str) -> str:
    """A trained adjudicator's key, limited to the test's gallery (other tests' cases stay out of its queue)."""
    created = api.post("/v1/keys", json={"role": "adjudicator", "label": label, "galleries": [gallery_id]})
    assert created.status_code == 201, created.text
    # The two-admin rule: a second admin (not the key's creator) records the training.
    second = api.post("/v1/keys", json={"role": "admin", "label": f"{label} trainer"})
    assert second.status_code == 201, second.text
    now = datetime.now(UTC)
    trained = api.post(
        f"/v1/adjudicators/{created.json()['id']}/training",
        headers={"Authorization": f"Bearer {second.json()['key']}"},
        json={
            "course": "Face comparison for reviewers",
            "completed_at": (now - timedelta(days=1)).isoformat(),
            "expires_at": (now + timedelta(days=365)).isoformat(),
        },
    )
    assert trained.status_code == 201, trained.text
    return created.json()["key"]


def _case(api: httpx.Client, viewport_name: str, lfw_dir) -> tuple[str, str, str]:
    """A gallery with 1:N and the photo consent text, one person enrolled, and a search sent for review."""
    gallery = api.post("/v1/galleries", json={"name": f"Review {viewport_name}", "purpose": "Food distribution"})
    assert gallery.status_code == 201, gallery.text
    gallery_id = gallery.json()["id"]
    assert api.post(f"/v1/galleries/{gallery_id}/identification", json={"dpia_reference": "DPIA-7"}).status_code == 200
    texts = api.get("/v1/consent-texts").json()
    sha = hashlib.sha256(PHOTO_TEXT.encode()).hexdigest()
    if not any(t["sha256"] == sha for t in texts):
        registered = api.post(
            "/v1/consent-texts",
            json={
                "version": "2026-03-photo",
                "text": PHOTO_TEXT,
                "keeps_reference_photo": True,
                "shared": True,
                "modalities": ["face", "finger"],
                "purposes": ["verify", "deduplicate"],
            },
        )
        assert registered.status_code == 201, registered.text
    now = datetime.now(UTC)
    consent = {
        "purposes": ["verify", "deduplicate"],
        "modalities": ["face"],
        "text_version": "2026-03-photo",
        "text_sha256": sha,
        "signed_by": f"Amina Yusuf ({viewport_name})",
        "signed_at": (now - timedelta(minutes=5)).isoformat(),
        "expires_at": (now + timedelta(days=365)).isoformat(),
    }
    subject = api.post("/v1/subjects", json={"gallery_id": gallery_id, "consent": consent})
    assert subject.status_code == 201, subject.text
    subject_id = subject.json()["id"]
    photos = sorted((lfw_dir / "images" / "Serena_Williams").glob("*.jpg"))[:2]
    enrolled = api.post(f"/v1/subjects/{subject_id}/faces", files={"image": ("a.jpg", photos[0].read_bytes())})
    assert enrolled.status_code == 201, enrolled.text
    search = api.post(
        "/v1/identify",
        data={"gallery_id": gallery_id, "purpose": "deduplicate", "case_reference": f"CASE-{viewport_name}"},
        files={"image": ("b.jpg", photos[1].read_bytes())},
    )
    assert search.status_code == 200 and search.json()["status"] == "sent_for_review", search.text
    return search.json()["search_id"], subject_id, gallery_id


def _decide_everything(console: Console, name: str) -> int:
    """Decide "same person" on every candidate the workbench shows, case after case; returns how many."""
    page = console.page
    decided = 0
    while page.locator("#review-case").is_visible():
        expect(page.locator("#review-probe img")).to_be_visible()
        expect(page.locator("#review-reference img")).to_be_visible()
        text = page.locator("#review-case").inner_text()
        assert "score" not in text.lower().replace("the scores say", "")  # a band, never a number
        if decided == 0:
            console.shot(f"{name}-case")
        page.get_by_label("Same person").check()
        page.get_by_label("Why (what you compared)").fill("Same ear shape, same hairline and the same eyebrows.")
        page.get_by_role("button", name="Record decision").click()
        expect(page.locator("#review-done")).to_contain_text("Recorded: same person")
        decided += 1
        page.wait_for_function("() => !document.querySelector('#review-form button[type=submit]').disabled")
    return decided


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_two_reviewers_decide_in_the_workbench(viewport_name, server, camera_files, open_browser, lfw_dir):
    viewport = VIEWPORTS[viewport_name]
    shots = ARTIFACTS / "review" / viewport_name
    for old in shots.glob("*.png"):
        old.unlink()
    with server.api() as api:
        search_id, subject_id, gallery_id = _case(api, viewport_name, lfw_dir)
        first, second = (_adjudicator(api, f"{name} reviewer", gallery_id) for name in ("first", "second"))

    with open_browser(camera_files["wall"], viewport, shots) as browser:
        console = Console(browser, server.url)
        page = console.page
        console.sign_in(first)
        expect(console.screen("review")).to_be_visible()  # an adjudicator lands on their own screen
        expect(page.locator("#who")).to_contain_text("Adjudicator")
        expect(page.locator("#review-case")).to_be_visible()
        assert subject_id not in page.content()  # the workbench never names the candidate
        assert _decide_everything(console, "first") >= 1
        expect(page.locator("#review-queue")).to_contain_text("No cases wait for you")
        console.shot("first-queue-empty")

        console.home()
        assert page.locator("#go-review").is_visible()
        for operator_tile in ("#go-enrol", "#go-verify", "#go-identify", "#go-withdraw", "#go-gallery", "#go-audit"):
            assert not page.locator(operator_tile).is_visible(), operator_tile
        page.goto(server.url + "/#consent")  # a screen the role may not use is never shown
        expect(console.screen("home")).to_be_visible()
        assert "not registered" not in page.locator("body").inner_text()
        console.shot("adjudicator-home")

    with server.api() as api:
        waiting = api.get(f"/v1/searches/{search_id}").json()
    assert waiting["status"] == "sent_for_review" and waiting["confirmed"] == []  # one reviewer is not two

    with open_browser(camera_files["wall"], viewport, shots) as browser:
        console = Console(browser, server.url)
        console.sign_in(second)
        expect(console.page.locator("#review-case")).to_be_visible()
        assert "Recorded" not in console.page.locator("#review-case").inner_text()  # blind to the first decision
        assert _decide_everything(console, "second") >= 1

    with server.api() as api:
        outcome = api.get(f"/v1/searches/{search_id}").json()
    assert outcome["status"] == "confirmed" and outcome["confirmed"] == [{"subject_id": subject_id}]
