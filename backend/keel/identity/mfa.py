"""TOTP second factor and backup codes.

A code is accepted within one 30-second step either side of server time, and only once: the step it
matched is returned and must be stored, and a later code for that step or an earlier one is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno

ISSUER = "Keel"
STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of now
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i to misread


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32; store it encrypted (keel.core.keyring), never in clear
    uri: str  # otpauth:// URI for authenticator apps
    qr_svg: str  # the URI as a QR code, rendered on the server


def start_enrolment(account_name: str) -> Enrolment:
    return enrolment_for(pyotp.random_base32(length=32), account_name)  # 160 bits, as RFC 4226 recommends


def enrolment_for(secret: str, account_name: str) -> Enrolment:
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=ISSUER
    )
    qr = segno.make(uri, error="m")
    return Enrolment(secret=secret, uri=uri, qr_svg=qr.svg_inline(scale=4, title="TOTP enrolment"))


def accepted_step(
    secret: str, code: str, *, last_used_step: int | None, now: datetime | None = None
) -> int | None:
    """The time step `code` is valid for, or None. Refuses replays: steps ≤ `last_used_step`."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    at = now or datetime.now(UTC)
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(at.timestamp()) // STEP_SECONDS
    for step in range(current - WINDOW, current + WINDOW + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_backup_codes() -> list[str]:
    """Ten codes of 10 characters (about 50 bits each), shown to the user once, as `xxxxx-xxxxx`."""
    codes = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def hash_backup_code(code: str) -> bytes:
    """Backup codes are random, so a fast hash is enough; input is normalised as users retype it."""
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).digest()


def matching_backup_code(code: str, unused_hashes: list[bytes]) -> bytes | None:
    """The stored hash `code` matches (to be marked used), or None. Compares in constant time."""
    candidate = hash_backup_code(code)
    match = None
    for stored in unused_hashes:
        if hmac.compare_digest(candidate, stored):
            match = stored
    return match
