"""The API reference at /docs loads with no network: every request that leaves 127.0.0.1 is refused.

``tessera serve`` serves Swagger UI from tessera/web/vendor/swagger-ui (``make web``), over its own
/openapi.json. The browser is given no way out: every request to another host is aborted and noted, and
the page must still render the API's operations, with no page error and no Content-Security-Policy
violation.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, VENDOR, VIEWPORTS, Server


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_the_api_reference_loads_offline(server: Server, playwright, viewport_name):
    if not (VENDOR / "swagger-ui" / "swagger-ui-bundle.js").exists():
        pytest.fail(f"Swagger UI is not in {VENDOR}/swagger-ui (run `make web`)", pytrace=False)
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    width, height = VIEWPORTS[viewport_name]
    page = browser.new_page(viewport={"width": width, "height": height})
    refused: list[str] = []
    local: list[str] = []
    errors: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            local.append(url)
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=45_000)
        assert "Tessera" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector('[data-path="/v1/verify"]', timeout=45_000)
        assert page.locator(".opblock").count() >= 25  # every operation of the document is listed
        shots = ARTIFACTS / "api-docs"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{viewport_name}.png"))
    finally:
        browser.close()
    assert refused == [], f"the page tried to reach other hosts: {refused}"
    assert any(url.endswith("/openapi.json") for url in local)
    assert errors == [], errors
