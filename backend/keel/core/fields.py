"""Field types that many domains' schemas share: one definition each, so a name means one thing."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field

_TIMEZONES = frozenset(available_timezones())
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # one line, no control characters


def _known_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError("unknown IANA time zone")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=_PRINTABLE)]
Text100 = Annotated[str, Field(min_length=1, max_length=100, pattern=_PRINTABLE)]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f,]+$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. DE")]
# A record's id in the system it came from (imports upsert by it).
ExternalId = Annotated[str, Field(min_length=1, max_length=100, pattern=_PRINTABLE)]
# Custom field values a record carries, by field key; `null` in a change removes the value
# (keel.customfields checks them against the organisation's definitions).
CustomValues = Annotated[dict[str, Any], Field(max_length=100)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_known_timezone)]
Locale = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", description="BCP 47, e.g. en-GB")]
