from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tessera.governance.audit import append, verify_chain, write_anchor
from tessera.store.db import create_store_engine, migrate, session_factory

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url, tmp_path):
    engine = create_store_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    anchor = tmp_path / "audit-head.json"
    with sessions() as session, session.begin():
        for i in range(6):
            entry = append(
                session,
                at=T0 + timedelta(minutes=i),
                actor="key:abc",
                action="face.verify",
                outcome="match",
                subject_id=f"subject-{i}",
                details={"score": 0.9 - i / 10},
            )
    write_anchor(anchor, entry.seq, entry.entry_hash)
    yield engine, sessions, anchor
    engine.dispose()


def check(sessions, anchor):
    with sessions() as session:
        return verify_chain(session, anchor)


def test_intact_chain_verifies(store):
    _, sessions, anchor = store
    result = check(sessions, anchor)
    assert result.ok and result.entries == 6 and result.problems == []


def test_edited_body_is_detected(store):
    engine, sessions, anchor = store
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET body = replace(body, 'match', 'no_match') WHERE seq = 3"))
    result = check(sessions, anchor)
    assert not result.ok
    assert any("entry 3 was altered" in problem for problem in result.problems)


def test_edited_column_is_detected(store):
    engine, sessions, anchor = store
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'key:someone-else' WHERE seq = 2"))
    result = check(sessions, anchor)
    assert not result.ok and any("column(s) actor" in problem for problem in result.problems)


def test_deleted_entry_is_detected(store):
    engine, sessions, anchor = store
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    result = check(sessions, anchor)
    assert not result.ok and any("entry 4 is missing" in problem for problem in result.problems)


def test_reordered_entries_are_detected(store):
    engine, sessions, anchor = store
    with engine.begin() as connection:
        bodies = dict(connection.execute(text("SELECT seq, body FROM audit_log WHERE seq IN (2, 5)")).all())
        connection.execute(text("UPDATE audit_log SET body = :body WHERE seq = 2"), {"body": bodies[5]})
        connection.execute(text("UPDATE audit_log SET body = :body WHERE seq = 5"), {"body": bodies[2]})
    assert not check(sessions, anchor).ok


def test_truncation_is_detected_by_the_anchor(store):
    engine, sessions, anchor = store
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq >= 5"))
    result = check(sessions, anchor)
    assert not result.ok
    assert any("entries up to 6 were recorded, but the log ends at 4" in problem for problem in result.problems)


def test_rewritten_chain_is_detected_by_the_anchor(store, database_url):
    engine, sessions, anchor = store
    # An attacker who rewrites the history recomputes every hash consistently.
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))
    with sessions() as session, session.begin():
        for _ in range(6):
            append(session, at=T0, actor="key:abc", action="face.verify", outcome="no_match")
    with sessions() as session:
        assert verify_chain(session).ok  # consistent on its own...
    result = check(sessions, anchor)  # ...but not with the anchored head
    assert not result.ok and any("rewritten" in problem for problem in result.problems)


def test_audit_retention_has_a_six_month_floor(tmp_path):
    from pydantic import ValidationError

    from tessera.settings import Settings

    assert Settings(data_dir=tmp_path, audit_retention_days=183).audit_retention_days == 183
    with pytest.raises(ValidationError, match="audit_retention_days"):
        Settings(data_dir=tmp_path, audit_retention_days=182)
