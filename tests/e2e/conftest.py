"""Browser tests: the real service in a subprocess, Debian's Chromium driven by Playwright, a fake camera.

Nothing is downloaded: Playwright launches /usr/bin/chromium (``make e2e-deps`` installs it), the
page's models come from tessera/web/vendor (``make web`` copies them from npm), and the camera
plays a .y4m file written here from an LFW photo. ``make test`` sets TESSERA_E2E_REQUIRED=1, so a
missing piece fails the run with what to install; a bare ``pytest`` skips instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tessera.processes import free_local_port, stop
from tests.e2e.y4m import framed, plain_wall, write_y4m

os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"  # never let Playwright fetch a browser of its own

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = Path(os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium"))
VENDOR = REPO / "tessera" / "web" / "vendor"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

SERVE_STOP_SECONDS = 20
"""How long a stopped `tessera serve` may take to close its instance before it is killed."""

VIEWPORTS = {"phone-360x740": (360, 740), "desktop-1280x800": (1280, 800)}


def _missing(what: str) -> None:
    message = f"{what} (run `make e2e-deps web`, or `make test`, which installs it)"
    if os.environ.get("TESSERA_E2E_REQUIRED"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the Python package playwright is not installed")
    if not CHROMIUM.exists():
        _missing(f"Chromium is not installed at {CHROMIUM} (Debian package chromium)")
    if not (VENDOR / "face_detection" / "face_detection.js").exists():
        _missing(f"the guidance models are not in {VENDOR}")
    from playwright.sync_api import expect

    # An expectation waits up to 30 s for the page (Playwright's default is 5 s): the tests run beside other test
    # processes on a shared machine, and an expectation that holds returns at once.
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        yield playwright


@dataclass(frozen=True)
class Server:
    url: str
    admin_key: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=60)


def _tessera(*args: str) -> list[str]:
    return [sys.executable, "-c", "from tessera.cli import app; app()", *args]


@contextmanager
def serve(data_dir: Path, env: dict[str, str] | None = None):
    """`tessera serve` on a free loopback port over ``data_dir`` with one admin key; ``env`` adds settings
    (``TESSERA_...``) for this server only."""
    created = subprocess.run(
        _tessera("keys", "create", "--role", "admin", "--label", "e2e", "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    admin_key = created.stdout.strip().splitlines()[-1]
    port = free_local_port()
    log = (data_dir / "serve.log").open("w")
    process = subprocess.Popen(
        _tessera("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, grace_seconds=SERVE_STOP_SECONDS)
            pytest.fail(f"tessera serve did not start; its log:\n{(data_dir / 'serve.log').read_text()}")
        time.sleep(0.3)
    try:
        yield Server(url=url, admin_key=admin_key)
    finally:
        stop(process, grace_seconds=SERVE_STOP_SECONDS)
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory, playwright) -> Server:
    """`tessera serve` on a free loopback port over a fresh data folder, with one admin key."""
    with serve(tmp_path_factory.mktemp("e2e-instance")) as running:
        yield running


@pytest.fixture(scope="session")
def camera_files(tmp_path_factory, lfw_dir) -> dict[str, Path]:
    """Fake-camera videos: two photos of one person, one of another, and a plain wall."""
    folder = tmp_path_factory.mktemp("camera")

    def photos(name: str, count: int) -> list[Path]:
        paths = sorted((lfw_dir / "images" / name).glob("*.jpg"))[:count]
        if len(paths) < count:
            pytest.skip(f"LFW has fewer than {count} photos of {name} here")
        return paths

    first, second = photos("Colin_Powell", 2)
    (other,) = photos("Tony_Blair", 1)
    files = {
        "person_a_1": framed(Image.open(first)),
        "person_a_2": framed(Image.open(second)),
        "person_b": framed(Image.open(other)),
        "wall": plain_wall(),
    }
    return {name: write_y4m(folder / f"{name}.y4m", frame) for name, frame in files.items()}


class Browser:
    """One Chromium whose camera plays one file, with one page at one viewport; collects page errors."""

    def __init__(self, playwright, camera: Path, viewport: tuple[int, int], shots: Path) -> None:
        self.browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}"],
        )
        phone = viewport[0] < 600
        self.context = self.browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            is_mobile=phone,
            has_touch=phone,
            device_scale_factor=1,
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(45_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("console", self._console)
        self.shots = shots

    def _console(self, message) -> None:
        if message.type == "error" and ("Content Security Policy" in message.text or "Refused to" in message.text):
            self.errors.append(f"console: {message.text}")

    def shot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        number = len(list(self.shots.glob("*.png"))) + 1
        path = self.shots / f"{number:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()
        self.browser.close()


@pytest.fixture
def open_browser(playwright):
    """Open a browser whose camera plays ``camera``; every one opened is closed after the test."""
    opened: list[Browser] = []

    @contextmanager
    def launch(camera: Path, viewport: tuple[int, int], shots: Path):
        browser = Browser(playwright, camera, viewport, shots)
        opened.append(browser)
        try:
            yield browser
        finally:
            errors = list(browser.errors)
            browser.close()
            opened.remove(browser)
            assert not errors, errors

    yield launch
    for browser in opened:
        browser.close()
