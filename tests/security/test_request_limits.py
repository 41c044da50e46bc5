"""A request's body and images are bounded while they arrive, before authentication (issue 14, item 6).

The service is driven at the ASGI level, so that the test sees how much of a
body it read before it answered: a chunked upload with no Content-Length must
be refused once the limit is passed, not after the last byte.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tessera.api.app import create_app
from tessera.workflows.instance import Instance
from tests.aio import run_in_own_loop

CHUNK = 64 * 1024


class Upload:
    """An ASGI request whose body arrives in ``chunks``; records how many the service read and what it answered."""

    def __init__(self, path: str, headers: dict[str, str], chunks: list[bytes]) -> None:
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        self.chunks = chunks
        self.read = 0
        self.status: int | None = None
        self.body = b""

    async def receive(self) -> dict:
        if self.read < len(self.chunks):
            self.read += 1
            return {
                "type": "http.request",
                "body": self.chunks[self.read - 1],
                "more_body": self.read < len(self.chunks),
            }
        await asyncio.sleep(3600)  # the client waits for the answer
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def run(self, app) -> Upload:
        async def lifespan_free() -> None:
            await app(self.scope, self.receive, self.send)

        run_in_own_loop(lifespan_free())
        return self

    @property
    def error(self) -> dict:
        return json.loads(self.body)["error"]


def multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        kind = "Content-Type: image/png\r\n" if filename else ""
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{kind}\r\n".encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def split(body: bytes) -> list[bytes]:
    return [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)]


@pytest.fixture
def app(instance: Instance):
    return create_app(instance, background_jobs=False)


def test_a_chunked_body_is_refused_once_it_passes_the_limit_before_the_key_is_checked(app, instance):
    chunks = [b"x" * CHUNK] * (200 * 1024 * 1024 // CHUNK)  # 200 MB of JSON body, no Content-Length
    upload = Upload("/v1/subjects", {"content-type": "application/json", "authorization": "Bearer no-such-key"}, chunks)
    upload.run(app)
    assert upload.status == 413
    assert upload.error["code"] == "too_large"
    limit = instance.settings.max_upload_bytes + 64 * 1024
    assert f"larger than the {limit:,}-byte limit" in upload.error["message"]
    assert upload.read <= limit // CHUNK + 2  # read up to the limit, not the 3,200 chunks sent


def test_a_chunked_multipart_upload_is_refused_at_the_limit_on_an_image_route(app, instance):
    boundary = "b0undary"
    image = b"\x89PNG" + b"\x00" * (40 * 1024 * 1024)
    body = multipart(boundary, [("subject_id", None, b"s-1"), ("image", "face.png", image)])
    upload = Upload(
        "/v1/verify",
        {"content-type": f"multipart/form-data; boundary={boundary}", "authorization": "Bearer no-such-key"},
        split(body),
    )
    upload.run(app)
    assert upload.status == 413 and upload.error["code"] == "too_large"
    assert upload.read < len(split(body)) // 2


@pytest.mark.parametrize("route", ["/v1/verify", "/v1/identify"])
def test_a_thousand_finger_images_are_refused_before_they_are_all_read(app, route):
    boundary = "b0undary"
    fingers = [("finger_image", f"f{number}.png", b"\x89PNG" + bytes(8 * 1024)) for number in range(1000)]
    body = multipart(boundary, [("subject_id", None, b"s-1"), *fingers])
    assert len(body) < 15 * 1024 * 1024  # under the body limit: the count alone refuses it
    upload = Upload(
        route,
        {"content-type": f"multipart/form-data; boundary={boundary}", "authorization": "Bearer no-such-key"},
        split(body),
    )
    upload.run(app)
    assert upload.status == 422, upload.body
    assert upload.error["code"] == "too_many_images"
    assert "Maximum number of files is 11" in upload.error["message"]
    assert upload.read <= 3  # the 12th file ends it: ~100 KB of the 8 MB sent


def test_more_fingers_than_a_person_has_are_refused_by_the_workflows_too(instance):
    from tessera.errors import InvalidRequest
    from tessera.workflows.captures import Capture, check_captures

    check_captures([Capture.finger(b"x", position, "contact") for position in range(1, 11)])
    with pytest.raises(InvalidRequest, match=r"Send at most 10 finger images in one request; got 11\.") as refused:
        check_captures([Capture.finger(b"x", 1 + number % 10, "contact") for number in range(11)])
    assert refused.value.code == "too_many_images"


def test_an_oversized_form_field_and_a_malformed_form_get_their_own_codes(app):
    # A million landmarks in the hand route's text field: over the parser's 1 MB per field, refused while parsing.
    boundary = "b0undary"
    landmarks = json.dumps([{"x": 0.5, "y": 0.5}] * 100_000).encode()
    body = multipart(boundary, [("landmarks", None, landmarks), ("hand", None, b"right")])
    upload = Upload(
        "/v1/subjects/s-1/hands",
        {"content-type": f"multipart/form-data; boundary={boundary}", "authorization": "Bearer no-such-key"},
        split(body),
    )
    upload.run(app)
    assert upload.status == 413 and upload.error["code"] == "field_too_large", upload.body
    assert "at most 1 MB" in upload.error["message"]

    broken = Upload(
        "/v1/verify", {"content-type": "multipart/form-data", "authorization": "Bearer no-such-key"}, [b"x" * 100]
    )
    broken.run(app)
    assert broken.status == 400 and broken.error["code"] == "malformed_body", broken.body
