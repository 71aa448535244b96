"""Secrets at rest are encrypted, and the key ring rotates without losing data."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from keel.core.config import Settings
from keel.core.keyring import KeyRing, KeyRingError, load_key_ring, new_key


def test_encrypted_data_reads_back_and_does_not_contain_the_plaintext() -> None:
    ring = KeyRing([new_key()])
    token = ring.encrypt(b"JBSWY3DPEHPK3PXP")
    assert b"JBSWY3DPEHPK3PXP" not in token.encode()
    assert ring.decrypt(token) == b"JBSWY3DPEHPK3PXP"


def test_after_adding_a_new_key_old_data_still_reads_and_rotates_to_the_new_key() -> None:
    old, new = new_key(), new_key()
    token = KeyRing([old]).encrypt(b"seed")
    ring = KeyRing([new, old])
    assert ring.decrypt(token) == b"seed"
    rotated = ring.rotate(token)
    # Once rotated, the old key can be retired from the ring.
    assert KeyRing([new]).decrypt(rotated) == b"seed"
    with pytest.raises(KeyRingError):
        KeyRing([new]).decrypt(token)


@pytest.mark.parametrize("token", ["", "garbage", "gAAAAABinvalid"])
def test_a_tampered_or_foreign_value_is_refused(token: str) -> None:
    with pytest.raises(KeyRingError):
        KeyRing([new_key()]).decrypt(token)


def test_a_value_encrypted_under_another_ring_is_refused() -> None:
    token = KeyRing([new_key()]).encrypt(b"seed")
    with pytest.raises(KeyRingError):
        KeyRing([new_key()]).decrypt(token)


@pytest.mark.parametrize("keys", [[], ["not-a-key"]])
def test_an_empty_or_malformed_ring_is_refused(keys: list[str]) -> None:
    with pytest.raises(KeyRingError):
        KeyRing(keys)


def test_production_refuses_to_start_without_configured_keys(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError):
        load_key_ring(Settings(env="prod", data_dir=tmp_path))


def test_development_generates_one_private_ring_and_keeps_it(tmp_path: Path) -> None:
    first = load_key_ring(Settings(env="dev", data_dir=tmp_path))
    token = first.encrypt(b"seed")
    key_file = tmp_path / "encryption-keys"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_key_ring(Settings(env="dev", data_dir=tmp_path)).decrypt(token) == b"seed"


def test_configured_keys_are_used_newest_first(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    ring = load_key_ring(Settings(env="prod", data_dir=tmp_path, encryption_keys=SecretStr(f"{new}, {old}")))
    assert KeyRing([new]).decrypt(ring.encrypt(b"seed")) == b"seed"
    assert not (tmp_path / "encryption-keys").exists()
