"""TOTP with a frozen clock: ±1 step, and a code works once. Backup codes: random, hashed, single-use."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from keel.identity.mfa import (
    accepted_step,
    hash_backup_code,
    matching_backup_code,
    new_backup_codes,
    start_enrolment,
)

NOW = datetime(2026, 11, 25, 12, 0, 10, tzinfo=UTC)  # 10 s into a 30 s step


def code_at(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def test_enrolment_gives_a_strong_secret_an_authenticator_uri_and_an_svg_qr_code() -> None:
    enrolment = start_enrolment("ada@example.com")
    assert len(base64.b32decode(enrolment.secret)) == 20  # 160 bits
    uri = urlparse(enrolment.uri)
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    query = parse_qs(uri.query)
    assert query["secret"] == [enrolment.secret] and query["issuer"] == ["Keel"]
    assert enrolment.qr_svg.startswith("<svg") and "</svg>" in enrolment.qr_svg
    assert start_enrolment("ada@example.com").secret != enrolment.secret


def test_the_current_code_and_its_neighbours_are_accepted() -> None:
    secret = start_enrolment("ada@example.com").secret
    for offset in (-30, 0, 30):
        assert accepted_step(
            secret, code_at(secret, NOW + timedelta(seconds=offset)), last_used_step=None, now=NOW
        )


@pytest.mark.parametrize("offset", [-90, -60, 60, 90])
def test_codes_two_or_more_steps_away_are_refused(offset: int) -> None:
    secret = start_enrolment("ada@example.com").secret
    code = code_at(secret, NOW + timedelta(seconds=offset))
    assert accepted_step(secret, code, last_used_step=None, now=NOW) is None


def test_a_code_works_once_even_within_its_window() -> None:
    secret = start_enrolment("ada@example.com").secret
    code = code_at(secret, NOW)
    step = accepted_step(secret, code, last_used_step=None, now=NOW)
    assert step is not None
    assert accepted_step(secret, code, last_used_step=step, now=NOW + timedelta(seconds=5)) is None
    # An older code, still inside the window, is refused after a newer one was used.
    older = code_at(secret, NOW - timedelta(seconds=30))
    assert accepted_step(secret, older, last_used_step=step, now=NOW) is None
    # The next step's code is accepted.
    later = NOW + timedelta(seconds=30)
    assert accepted_step(secret, code_at(secret, later), last_used_step=step, now=later) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(code: str) -> None:
    secret = start_enrolment("ada@example.com").secret
    assert accepted_step(secret, code, last_used_step=None, now=NOW) is None


def test_a_code_typed_with_spaces_is_accepted() -> None:
    secret = start_enrolment("ada@example.com").secret
    code = code_at(secret, NOW)
    assert accepted_step(secret, f"{code[:3]} {code[3:]}", last_used_step=None, now=NOW) is not None


def test_ten_distinct_backup_codes_that_match_only_their_own_hash() -> None:
    codes = new_backup_codes()
    assert len(codes) == len(set(codes)) == 10
    hashes = [hash_backup_code(c) for c in codes]
    assert matching_backup_code(codes[3].upper().replace("-", " "), hashes) == hashes[3]
    assert matching_backup_code("zzzzz-zzzzz", hashes) is None
    # Once used, its hash leaves the unused list and the code stops working.
    unused = [h for h in hashes if h != hashes[3]]
    assert matching_backup_code(codes[3], unused) is None


def test_backup_codes_are_not_stored_in_clear() -> None:
    code = new_backup_codes()[0]
    assert code.replace("-", "").encode() not in hash_backup_code(code)


def test_codes_in_other_scripts_digits_are_refused_not_crashed() -> None:
    secret = start_enrolment("a@example.com").secret
    assert accepted_step(secret, "١٢٣٤٥٦", last_used_step=None) is None  # Arabic-Indic digits
