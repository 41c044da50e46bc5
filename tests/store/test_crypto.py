import os
import stat

import pytest

from tessera.store.crypto import (
    DecryptionError,
    load_or_create_master_key,
    new_key,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)
from tessera.store.keystore import FileKeyStore, KeyMissing


def test_seal_round_trip_and_binding():
    key = new_key()
    sealed = seal(key, b"template bytes", b"template|t1|s1")
    assert b"template bytes" not in sealed
    assert open_sealed(key, sealed, b"template|t1|s1") == b"template bytes"
    with pytest.raises(DecryptionError):
        open_sealed(key, sealed, b"template|t2|s1")  # moved to another row
    with pytest.raises(DecryptionError):
        open_sealed(new_key(), sealed, b"template|t1|s1")
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        open_sealed(key, bytes(tampered), b"template|t1|s1")


def test_wrap_unwrap():
    master, data_key = new_key(), new_key()
    assert unwrap_key(master, wrap_key(master, data_key)) == data_key
    with pytest.raises(DecryptionError):
        unwrap_key(new_key(), wrap_key(master, data_key))


def test_master_key_is_created_private_and_reused(tmp_path):
    path = tmp_path / "deep" / "master.key"
    key = load_or_create_master_key(path)
    assert len(key) == 32 and load_or_create_master_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="holds 5 bytes; expected 32"):
        load_or_create_master_key(path)


def test_keystore_destroy_makes_key_unrecoverable(tmp_path):
    store = FileKeyStore(tmp_path / "keys", new_key())
    subject = "0b6f3c0e-0000-4000-8000-000000000001"
    key = store.create(subject)
    assert store.get(subject) == key
    raw = (tmp_path / "keys" / f"{subject}.key").read_bytes()
    assert key not in raw  # stored wrapped, never in clear
    assert store.destroy(subject) is True
    assert store.destroy(subject) is False
    with pytest.raises(KeyMissing):
        store.get(subject)


def test_keystore_rejects_path_tricks(tmp_path):
    store = FileKeyStore(tmp_path / "keys", new_key())
    with pytest.raises(ValueError, match="is not a Tessera id"):
        store.create("../../etc/passwd")


def test_sweep_destroys_only_old_orphans(tmp_path):
    store = FileKeyStore(tmp_path / "keys", new_key())
    kept, orphan, fresh = (f"0b6f3c0e-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))
    for subject in (kept, orphan, fresh):
        store.create(subject)
    old = tmp_path / "keys" / f"{orphan}.key"
    os.utime(old, (1, 1))
    os.utime(tmp_path / "keys" / f"{kept}.key", (1, 1))
    assert store.sweep(keep={kept}, older_than_seconds=60) == 1
    assert store.owner_ids() == {kept, fresh}
