"""Failed authentications are audited without their secret and limited per address and per key id (issue 14, item 8)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.api.throttle import FailureLimiter
from tessera.settings import Settings
from tessera.store.models import AuditEntry
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key


def failures(instance: Instance) -> list[AuditEntry]:
    with instance.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.fail")))


def test_a_wrong_secret_is_audited_with_the_key_id_and_address_never_the_secret(client, instance, headers):
    key_id = create_key(instance, "test", "verifier").id
    wrong = f"tsk_{key_id}_not-the-secret-SQUEAMISH-OSSIFRAGE"
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {wrong}"})
    assert response.status_code == 401
    [entry] = failures(instance)
    assert entry.outcome == "refused:invalid_key"
    details = json.loads(entry.body)["details"]
    assert details == {"client": "testclient", "key_id": key_id}
    assert "SQUEAMISH" not in entry.body


def test_failures_beyond_the_limit_from_one_address_are_refused_with_retry_after(tmp_path):
    instance = Instance.open(Settings(data_dir=tmp_path / "var", auth_failure_limit=3))
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    good = {"Authorization": f"Bearer {create_key(instance, 'test', 'admin').secret}"}
    for attempt in range(3):
        guess = {"Authorization": f"Bearer tsk_{attempt:016x}_guess"}
        assert client.get("/v1/me", headers=guess).status_code == 401
    refused = client.get("/v1/me", headers={"Authorization": "Bearer tsk_ffff_guess"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_failures"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Even the right key waits: the address is refused before any key is looked up.
    assert client.get("/v1/me", headers=good).status_code == 429
    assert len(failures(instance)) == 3  # refusals past the limit write nothing
    instance.close()


def test_a_key_id_guessed_from_many_addresses_is_limited_too():
    clock = [0.0]
    limiter = FailureLimiter(limit=2, window_seconds=60, clock=lambda: clock[0])
    for address in ("10.0.0.1", "10.0.0.2"):
        assert limiter.retry_after([f"address:{address}", "key:abc"]) is None
        limiter.fail([f"address:{address}", "key:abc"])
    assert limiter.retry_after(["address:10.0.0.3", "key:abc"]) == 60
    assert limiter.retry_after(["address:10.0.0.3", "key:other"]) is None
    clock[0] = 60.0
    assert limiter.retry_after(["address:10.0.0.3", "key:abc"]) is None  # the window ended


def test_the_limiter_remembers_a_bounded_number_of_addresses():
    limiter = FailureLimiter(limit=1, window_seconds=60, max_tracked=100)
    for number in range(10_000):
        limiter.fail([f"address:10.{number // 65536}.{number // 256 % 256}.{number % 256}"])
    assert limiter.tracked() == 100
    assert limiter.retry_after(["address:10.0.39.15"]) is not None  # the most recent are kept
