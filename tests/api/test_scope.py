"""What Tessera never does is hard to add by accident: these tests fail if it creeps in."""

from __future__ import annotations

from tessera.governance.vocabulary import SEARCH_PURPOSES, Modality, Purpose


def test_consent_vocabulary_is_closed():
    assert {p.value for p in Purpose} == {"verify", "deduplicate"}
    assert {m.value for m in Modality} == {"face", "finger"}
    assert {Purpose.DEDUPLICATE} == SEARCH_PURPOSES


def field_names(node) -> set[str]:
    """Every path, parameter and schema property name in an OpenAPI document."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key in ("properties", "paths"):
            names.update(str(name).lower() for name in node.get(key, {}))
        if "name" in node and "in" in node:
            names.add(str(node["name"]).lower())
        for value in node.values():
            names |= field_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= field_names(value)
    return names


def test_no_route_takes_an_image_url_or_a_stream(client, headers):
    names = field_names(client.get("/openapi.json").json())
    assert "image" in names and "/v1/identify" in names
    for forbidden in (
        "url",
        "video",
        "stream",
        "rtsp",
        "webhook",
        "social",
        "location",
        "emotion",
        "gender",
        "race",
        "risk",
    ):
        assert not any(forbidden in name for name in names), forbidden
    response = client.post(
        "/v1/galleries",
        json={"name": "g", "purpose": "p", "image_url": "http://example.org/a.jpg"},
        headers=headers["admin"],
    )
    assert response.status_code == 422 and "image_url" in response.json()["error"]["message"]


def test_no_route_returns_templates_or_lists_subjects(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        assert "template" not in path.replace("template_id", "")
        if path in ("/v1/subjects", "/v1/galleries", "/v1/galleries/{gallery_id}"):
            assert "get" not in operations, f"{path} must not list subjects in bulk"
