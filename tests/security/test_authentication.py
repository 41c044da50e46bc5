"""Failed authentications are audited without their secret and limited per address and per key id (issue 14, item 8)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.api.client_address import client_address, parse_networks
from tessera.api.throttle import FailureLimiter
from tessera.settings import Settings
from tessera.store.models import AuditEntry
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.service_fixtures import settings_on


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


def test_a_key_id_guessed_from_many_addresses_is_limited_too(instance):
    clock = [0.0]
    limiter = FailureLimiter(instance, limit=2, window_seconds=60, clock=lambda: clock[0])
    for address in ("10.0.0.1", "10.0.0.2"):
        assert limiter.retry_after([f"address:{address}", "key:abc"]) is None
        limiter.fail([f"address:{address}", "key:abc"])
    assert limiter.retry_after(["address:10.0.0.3", "key:abc"]) == 60
    assert limiter.retry_after(["address:10.0.0.3", "key:other"]) is None
    clock[0] = 60.0
    assert limiter.retry_after(["address:10.0.0.3", "key:abc"]) is None  # the window ended


def test_the_limiter_remembers_a_bounded_number_of_addresses(tmp_path, database_url):
    instance = Instance.open(settings_on(tmp_path / "var", database_url))
    clock = [0.0]
    limiter = FailureLimiter(instance, limit=1, window_seconds=60, max_tracked=100, clock=lambda: clock[0])
    for number in range(300):
        clock[0] = number / 10  # one failure every 0.1 s, all within the window
        limiter.fail([f"address:10.0.{number // 256}.{number % 256}"])
    assert limiter.tracked() == 100
    assert limiter.retry_after(["address:10.0.1.43"]) is not None  # the most recent are kept (the 300th)
    assert limiter.retry_after(["address:10.0.0.199"]) is None  # the 200th is forgotten
    clock[0] = 100.0
    limiter.fail(["address:10.9.9.9"])
    assert limiter.tracked() == 1  # ended windows are deleted as others are counted
    instance.close()


def test_every_server_process_on_one_store_shares_the_limit(tmp_path, database_url):
    """Two apps on one store (as two server processes): failures spread over both count together, so the limit
    holds for the deployment, not per process."""
    settings = settings_on(tmp_path / "var", database_url, auth_failure_limit=2)
    first, second = Instance.open(settings), Instance.open(settings)
    try:
        apps = [create_app(instance, background_jobs=False) for instance in (first, second)]
        clients = [TestClient(app, raise_server_exceptions=False, client=("10.0.0.7", 5000)) for app in apps]
        guess = {"Authorization": "Bearer tsk_0000000000000001_guess"}
        assert [client.get("/v1/me", headers=guess).status_code for client in clients] == [401, 401]
        assert clients[0].get("/v1/me", headers=guess).status_code == 429
        assert clients[1].get("/v1/me", headers=guess).status_code == 429
    finally:
        first.close()
        second.close()


def test_a_key_id_over_its_limit_still_lets_its_right_secret_in(tmp_path):
    instance = Instance.open(Settings(data_dir=tmp_path / "var", auth_failure_limit=2))
    app = create_app(instance, background_jobs=False)
    key = create_key(instance, "test", "verifier")
    for address in ("10.0.0.1", "10.0.0.2"):  # a guesser spreads over addresses, naming the same key id
        guesser = TestClient(app, raise_server_exceptions=False, client=(address, 5000))
        assert guesser.get("/v1/me", headers={"Authorization": f"Bearer tsk_{key.id}_guess"}).status_code == 401
    third = TestClient(app, raise_server_exceptions=False, client=("10.0.0.3", 5000))
    refused = third.get("/v1/me", headers={"Authorization": f"Bearer tsk_{key.id}_guess"})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_failures"
    holder = TestClient(app, raise_server_exceptions=False, client=("10.0.0.9", 5000))
    assert holder.get("/v1/me", headers={"Authorization": f"Bearer {key.secret}"}).status_code == 200
    assert len(failures(instance)) == 2
    instance.close()


def guessing_from(app, peer: str, forwarded_for: str | None, attempts: int) -> list[int]:
    """Status codes of ``attempts`` wrong keys sent from ``peer`` with an X-Forwarded-For header (or none)."""
    client = TestClient(app, raise_server_exceptions=False, client=(peer, 5000))
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    return [
        client.get("/v1/me", headers={**headers, "Authorization": f"Bearer tsk_{n:016x}_guess"}).status_code
        for n in range(attempts)
    ]


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(tmp_path):
    """Checked against a broken ``client_address`` that believes the left-most X-Forwarded-For hop of any peer:
    this test and the two below fail with it."""
    # Default: no trusted proxy. A client that varies X-Forwarded-For is still counted under its own address.
    instance = Instance.open(Settings(data_dir=tmp_path / "var", auth_failure_limit=3))
    app = create_app(instance, background_jobs=False)
    codes = [guessing_from(app, "203.0.113.7", f"198.51.100.{n}", 1)[0] for n in range(4)]
    assert codes == [401, 401, 401, 429]
    details = [json.loads(entry.body)["details"]["client"] for entry in failures(instance)]
    assert details == ["203.0.113.7"] * 3
    instance.close()


def test_behind_a_trusted_proxy_each_client_is_counted_under_its_own_address(tmp_path):
    settings = Settings(data_dir=tmp_path / "var", auth_failure_limit=3, trusted_proxies=("10.0.0.0/8",))
    instance = Instance.open(settings)
    app = create_app(instance, background_jobs=False)
    # Two clients behind the proxy (10.0.0.2): one guesses past the limit, the other is not refused for it.
    assert guessing_from(app, "10.0.0.2", "198.51.100.1", 4) == [401, 401, 401, 429]
    assert guessing_from(app, "10.0.0.2", "198.51.100.2", 1) == [401]
    # The client cannot escape by writing its own X-Forwarded-For: the proxy appends the address it saw, and
    # the right-most hop that is not a trusted proxy is taken (here through two proxies, 10.0.0.9 then 10.0.0.2).
    assert guessing_from(app, "10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.9", 1) == [429]
    # A peer that is not a trusted proxy is counted under its own address, whatever it forwards.
    assert guessing_from(app, "192.0.2.50", "198.51.100.2", 1) == [401]
    clients = [json.loads(entry.body)["details"]["client"] for entry in failures(instance)]
    assert clients == ["198.51.100.1"] * 3 + ["198.51.100.2", "192.0.2.50"]
    instance.close()


def test_client_address_walks_x_forwarded_for_from_the_right():
    trusted = parse_networks(["10.0.0.0/8", "::1"])
    assert client_address("10.0.0.2", ["198.51.100.1"], trusted) == "198.51.100.1"
    assert client_address("10.0.0.2", ["6.6.6.6, 198.51.100.1", "10.0.0.3"], trusted) == "198.51.100.1"
    assert client_address("10.0.0.2", ["10.0.0.4, 10.0.0.3"], trusted) == "10.0.0.4"  # every hop a proxy
    assert client_address("10.0.0.2", [], trusted) == "10.0.0.2"
    assert client_address("10.0.0.2", ["198.51.100.1, not-an-address"], trusted) == "10.0.0.2"
    assert client_address("::1", ["2001:db8::7"], trusted) == "2001:db8::7"
    assert client_address("203.0.113.7", ["198.51.100.1"], trusted) == "203.0.113.7"
    assert client_address("10.0.0.2", ["198.51.100.1"], ()) == "10.0.0.2"
    assert client_address(None, [], trusted) == "unknown"


def test_a_trusted_proxy_that_is_not_an_address_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"trusted_proxies: 'proxy\.example' is not an IP address or network"):
        Settings(data_dir=tmp_path / "var", trusted_proxies=("proxy.example",))
