"""Four fingers in the console: verify with a hand photo, the hand model run on the still, and the fallback.

What the fake camera can and cannot show: it plays a still scene (a plain wall), in which MediaPipe Hands
finds no hand, and no scene of a real hand is among the evaluation data. So the browser tests show that
(1) with the hand model loaded, the console runs it on the photo itself and says in words that no hand was
found, sending nothing; and (2) without the model (its files blocked, as on a phone that cannot run it), the
console falls back to the four fingertips one at a time and sends them in one request with their ISO
positions, and the answer shows each finger compared, or refused with its reason in words. A slap whose
landmarks the model found is tested through the service (tests/api/test_hands.py), not here.

The person is enrolled through the API with a composed slap photo of real contactless fingertips
(tessera.evaluation.slap_photo), so the console's verification has finger references to compare with.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tessera.evaluation.slap_photo import compose_slap
from tessera.finger.refusal import MESSAGES
from tests.conftest import SHARED_DATA, _require
from tests.e2e.conftest import ARTIFACTS, VIEWPORTS, serve
from tests.e2e.test_console import Console
from tests.service_fixtures import Api

pytestmark = pytest.mark.lfw

DS1 = SHARED_DATA / "finger" / "contactless_ds1" / "data" / "DS1_sample"
FIELDS_HOOK = (
    "window.__fields = []; const append = FormData.prototype.append;"
    "FormData.prototype.append = function (name, value, ...rest) {"
    "  window.__fields.push([name, typeof value === 'string' ? value : 'blob']);"
    "  return append.call(this, name, value, ...rest); };"
)


@pytest.fixture(scope="module")
def hand_server(tmp_path_factory, playwright):
    """A server (a loaded test machine reads four fingers slowly: its time limit raised) with one person whose
    right hand was enrolled from one photo."""
    paths = [DS1 / "1" / f"SIRE-1_{finger}_1.bmp" for finger in (2, 3, 4, 5)]
    tips = [np.array(Image.open(_require(path, "contactless_ds1")).convert("L")) for path in paths]
    photo, landmarks = compose_slap(tips)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=92)
    with serve(tmp_path_factory.mktemp("hands-e2e"), env={"TESSERA_REQUEST_TIMEOUT_SECONDS": "900"}) as server:
        with server.api() as client:
            client.timeout = 900
            admin = {"Authorization": f"Bearer {server.admin_key}"}
            api = Api(client, {"admin": admin, "enroller": admin})
            gallery = api.gallery("Hands e2e")
            person = api.subject(gallery, modalities=("face", "finger"), signed_by="Amina Yusuf")
            enrolled = client.post(
                f"/v1/subjects/{person}/hands",
                files={"image": ("hand.jpg", buffer.getvalue(), "image/jpeg")},
                data={"landmarks": json.dumps(landmarks), "hand": "right"},
            )
            assert enrolled.status_code == 201, enrolled.text
            number = client.get(f"/v1/subjects/{person}").json()["number"]
        yield server, number


def open_verify(console: Console, key: str, number: str, hand: str = "Right hand") -> None:
    page = console.page
    console.sign_in(key)
    console.choose_gallery("Hands e2e")
    console.home()
    page.get_by_role("link", name=re.compile("Verify a person")).click()
    page.get_by_label("Tessera number the person gives").fill(number)
    form = console.screen("verify")
    form.get_by_label("Compare with").select_option(label="Four fingers")
    form.get_by_label("Which hand").select_option(label=hand)
    page.get_by_role("button", name="Take photo and compare").click()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_hand_model_runs_on_the_photo_and_no_hand_is_said_in_words(
    viewport, hand_server, camera_files, open_browser
):
    server, number = hand_server
    shots = ARTIFACTS / "hands" / viewport
    with open_browser(camera_files["wall"], VIEWPORTS[viewport], shots) as browser:
        console = Console(browser, server.url)
        page = console.page
        page.add_init_script(FIELDS_HOOK)
        open_verify(console, server.admin_key, number)
        expect(page.locator("#capture-title")).to_have_text("Right hand: four fingers in one photo")
        expect(page.locator("body")).to_have_attribute("data-guidance", "hand-detector", timeout=60_000)
        expect(page.locator("#guidance")).to_have_attribute("data-advice", "noHand", timeout=30_000)
        console.shot("hand-guidance")
        page.get_by_role("button", name="Take photo", exact=True).click()
        error = console.screen("capture").locator(".error")
        expect(error).to_have_attribute("data-code", "no_hand_found", timeout=60_000)
        expect(error).to_contain_text("No hand was found in the photo")
        expect(page.get_by_role("button", name="Use this photo")).to_be_hidden()
        console.shot("no-hand")
        assert page.evaluate("window.__fields") == []  # nothing was sent
        assert browser.errors == []


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_without_the_hand_model_four_fingertips_are_taken_one_at_a_time(
    viewport, hand_server, camera_files, open_browser
):
    server, number = hand_server
    shots = ARTIFACTS / "hands-fallback" / viewport
    with open_browser(camera_files["wall"], VIEWPORTS[viewport], shots) as browser:
        console = Console(browser, server.url)
        page = console.page
        page.add_init_script(FIELDS_HOOK)
        page.route("**/static/vendor/hands/**", lambda route: route.abort())  # a phone that cannot run it
        open_verify(console, server.admin_key, number)
        expect(page.locator("#guidance-mode")).to_contain_text("light and steadiness only", timeout=60_000)
        page.get_by_role("button", name="Take photo", exact=True).click()
        expect(page.locator("#capture-title")).to_contain_text("(1 of 4)", timeout=60_000)
        for number_of, name in enumerate(("Right index", "Right middle", "Right ring", "Right little"), start=1):
            expect(page.locator("#capture-title")).to_have_text(f"{name} ({number_of} of 4): fingertip photo")
            if number_of == 1:
                expect(page.locator("#capture-note")).to_contain_text("one fingertip at a time")
                console.shot("fallback")
            console.take_and_send()
        result = page.locator("#verify-result")
        expect(result).to_be_visible(timeout=300_000)
        compared = result.locator("ul.compared li[data-modality='finger']")
        expect(compared).to_have_count(4)
        for item in compared.all():  # a wall is no fingertip: each finger says so, in words
            expect(item).to_have_attribute("data-reason", "not_a_finger")
            expect(item).to_contain_text("No fingertip was found")
        expect(result).to_have_attribute("data-decision", "inconclusive")
        console.shot("fallback-answer")
        fields = page.evaluate("window.__fields")
        positions = [value for name, value in fields if name == "finger_position"]
        assert positions == ["2", "3", "4", "5"], fields
        assert [name for name, _ in fields].count("finger_image") == 4
        assert ("capture", "contactless") in [tuple(field) for field in fields]
        assert MESSAGES["not_a_finger"].startswith("No fingertip was found")
        assert browser.errors == []
