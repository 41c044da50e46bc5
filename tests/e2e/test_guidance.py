"""Live guidance in the browser: the words the camera screen says for what is in front of it."""

from __future__ import annotations

import pytest
from PIL import Image
from playwright.sync_api import expect

from tessera.face.refusal import MESSAGES
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.y4m import darkened, framed, plain_wall, side_by_side, write_y4m

pytestmark = pytest.mark.lfw

SCENES = {
    # scene: (what the guidance must say, its words on screen)
    "small-face": ("moveCloser", "Move closer"),
    "two-faces": ("oneFace", "One face only"),
    "dark-face": ("tooDark", "Too dark"),
    "wall": ("noFace", "No face in view"),
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, lfw_dir) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("scenes")
    first, second = (
        Image.open(sorted((lfw_dir / "images" / name).glob("*.jpg"))[0]) for name in ("Colin_Powell", "Serena_Williams")
    )
    frames = {
        "small-face": framed(first, height=0.4),
        "two-faces": side_by_side(first, second),
        "dark-face": darkened(framed(first)),
        "wall": plain_wall(),
    }
    return {name: write_y4m(folder / f"{name}.y4m", frame) for name, frame in frames.items()}


@pytest.mark.parametrize("scene", list(SCENES))
def test_guidance_words(scene, scenes, server, open_browser):
    advice, words = SCENES[scene]
    expect_face_guidance(open_browser, server, scenes[scene], scene, advice, words)


def expect_face_guidance(open_browser, server, y4m, scene: str, advice: str, words: str) -> None:
    """Sign in, open the face camera on ``y4m`` and wait for the live guidance to give ``advice`` in ``words``."""
    with open_browser(y4m, (1280, 800), ARTIFACTS / "guidance") as browser:
        page = browser.page
        page.goto(server.url + "/")
        page.get_by_label("API key").fill(server.admin_key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who")).to_be_visible()
        page.goto(server.url + "/#camera")
        expect(page.locator("body")).to_have_attribute("data-guidance", "face-detector", timeout=45_000)
        guidance = page.locator("#guidance")
        expect(guidance).to_have_attribute("data-advice", advice, timeout=30_000)
        expect(guidance).to_contain_text(words)
        page.screenshot(path=str(ARTIFACTS / "guidance" / f"{scene}.png"))


TURN_SCENES = {
    # scene: (LFW photo number of Ahmad_Masood, what the guidance must say, its words on screen)
    "turned-face": (2, "lookAtCamera", MESSAGES["face_turned"]),  # turned about 34 degrees by the server's YuNet
    "frontal-face": (1, "faceReady", "Good: hold still"),
}


@pytest.fixture(scope="module")
def turn_scenes(tmp_path_factory, lfw_dir) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("turn-scenes")
    files = {}
    for scene, (number, _, _) in TURN_SCENES.items():
        photo = lfw_dir / "images" / "Ahmad_Masood" / f"Ahmad_Masood_{number:04d}.jpg"
        if not photo.exists():
            pytest.skip(f"LFW photo {photo.name} is not here")
        files[scene] = write_y4m(folder / f"{scene}.y4m", framed(Image.open(photo)))
    return files


@pytest.mark.parametrize("scene", list(TURN_SCENES))
def test_guidance_asks_a_turned_face_to_look_at_the_camera(scene, turn_scenes, server, open_browser):
    # The server keeps the turned photo with a retake advised (face_turned); the guidance says so, in the same words,
    # before the photo is taken. The frontal photo of the same person is good to take.
    _, advice, words = TURN_SCENES[scene]
    expect_face_guidance(open_browser, server, turn_scenes[scene], scene, advice, words)
