"""Encryption at rest for small secrets (TOTP seeds, signing keys) with a key ring that can rotate.

`KEEL_ENCRYPTION_KEYS` holds Fernet keys, newest first, comma-separated. New data is encrypted with the
newest; every key in the ring still decrypts, and `rotate` re-encrypts old data with the newest. In
development and tests, without the setting, a ring is generated once into the data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from keel.core.config import Settings, get_settings

DEV_KEY_FILE = "encryption-keys"


class KeyRingError(RuntimeError):
    pass


class KeyRing:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyRingError("the key ring is empty")
        try:
            self._fernets = [Fernet(key.encode()) for key in keys]
        except (ValueError, TypeError) as exc:
            raise KeyRingError("an encryption key is not a valid Fernet key") from exc
        self._ring = MultiFernet(self._fernets)
        self._primary = keys[0].encode()

    def derive(self, purpose: str) -> bytes:
        """A 256-bit key for one purpose (e.g. signing CSRF tokens), derived from the newest key."""
        return hmac.new(self._primary, b"keel:" + purpose.encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: bytes) -> str:
        return self._ring.encrypt(plaintext).decode()

    def decrypt(self, token: str) -> bytes:
        try:
            return self._ring.decrypt(token.encode())
        except InvalidToken as exc:
            raise KeyRingError("the value was not encrypted with any key in the ring") from exc

    def rotate(self, token: str) -> str:
        """The same plaintext, encrypted with the newest key."""
        try:
            return self._ring.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise KeyRingError("the value was not encrypted with any key in the ring") from exc


def new_key() -> str:
    return Fernet.generate_key().decode()


def _dev_keys(data_dir: Path) -> list[str]:
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_key_ring(settings: Settings) -> KeyRing:
    if settings.encryption_keys is not None:
        keys = [k.strip() for k in settings.encryption_keys.get_secret_value().split(",") if k.strip()]
        return KeyRing(keys)
    if settings.env == "prod":
        raise KeyRingError("KEEL_ENCRYPTION_KEYS must be set in production")
    return KeyRing(_dev_keys(settings.data_dir))


@lru_cache
def get_key_ring() -> KeyRing:
    return load_key_ring(get_settings())
