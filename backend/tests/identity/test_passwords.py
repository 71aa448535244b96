"""Passwords are stored as argon2id, verified in constant work, and guessable ones are refused."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher

from keel.identity import passwords
from keel.identity.passwords import hash_password, judge_password, verify_password

GOOD = "tangerine orbit ladder 47 quietly"

pytestmark = pytest.mark.usefixtures("production_hashing")


async def test_a_password_is_stored_as_argon2id_and_verifies() -> None:
    stored = await hash_password(GOOD)
    assert stored.startswith("$argon2id$v=19$m=47104,t=1,p=1$")
    assert GOOD not in stored
    assert (await verify_password(stored, GOOD)).valid
    assert not (await verify_password(stored, GOOD + "x")).valid


async def test_two_hashes_of_one_password_differ_by_salt() -> None:
    assert await hash_password(GOOD) != await hash_password(GOOD)


async def test_the_same_passphrase_typed_differently_normalises_to_one_password() -> None:
    stored = await hash_password("ﬁne tangerine orbit ladder")  # the "ﬁ" ligature
    assert (await verify_password(stored, "fine tangerine orbit ladder")).valid


async def test_a_hash_made_with_older_parameters_asks_to_be_rehashed() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=19_456, parallelism=1).hash(GOOD)
    check = await verify_password(old, GOOD)
    assert check.valid and check.rehash
    assert not (await verify_password(await hash_password(GOOD), GOOD)).rehash


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=1,t=1,p=1$garbage"])
async def test_a_missing_or_corrupt_hash_never_verifies(stored: str | None) -> None:
    assert not (await verify_password(stored, GOOD)).valid


async def test_an_unknown_account_costs_the_same_work_as_a_known_one() -> None:
    stored = await hash_password(GOOD)
    await verify_password(None, GOOD)  # the dummy hash is made once, outside the measurement

    def cpu(stored_hash: str | None) -> float:
        started = time.process_time()
        for _ in range(3):
            passwords._verify(stored_hash, "wrong password entirely")
        return time.process_time() - started

    known, unknown = cpu(stored), cpu(None)
    # Same algorithm and parameters on both paths: the CPU spent is of one order, never ~0 for unknown.
    assert unknown > known / 3


@pytest.mark.parametrize(
    "password",
    [
        "short1!",  # too short
        "password1234",  # among the most common
        "qwertyuiop123",  # keyboard walk
        "Password2024!",  # common word + year
        "aaaaaaaaaaaaaaaa",  # repetition
        "Welcome12345",  # common phrase + digits
        "x" * 300,  # too long
    ],
)
def test_guessable_or_oversized_passwords_are_refused_with_a_reason(password: str) -> None:
    verdict = judge_password(password)
    assert not verdict.acceptable
    assert verdict.problems and all(isinstance(p, str) and p for p in verdict.problems)


def test_a_password_that_contains_the_users_email_or_name_is_refused() -> None:
    verdict = judge_password("margaret-hamilton-apollo-11", personal=("margaret.hamilton@example.com",))
    assert not verdict.acceptable
    assert "name or e-mail" in verdict.problems[0]


@pytest.mark.parametrize("password", [GOOD, "Vx7#qL2!mP9@wR4$", "correct-horse-ZEBRA-staple-91"])
def test_strong_passwords_are_accepted(password: str) -> None:
    assert judge_password(password, personal=("ada@example.com", "Ada Lovelace")).acceptable
