"""Phone numbers, kept in E.164 (`+493012345678`) whatever way they were typed."""

from __future__ import annotations

import phonenumbers

from keel.core.errors import Problem


def normalise_phone(number: str, country: str | None) -> str:
    """E.164 (`+493012345678`), from an international number or a national one with its country."""
    try:
        parsed = phonenumbers.parse(number, country)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        hint = "" if country else " (or give the contact's country for a national number)"
        raise Problem(422, f"phone is not a phone number: write it as +49 30 1234567{hint}.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
