"""Money: amounts are integers in the currency's minor unit (cents), with an ISO 4217 code beside them.

Accepted currencies are those in use today in some territory (Unicode CLDR, through Babel): `EUR` and
`JPY` are, `DEM` (replaced) and `XXX` (no currency) are not.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from babel import Locale
from babel.numbers import get_currency_precision, get_territory_currencies
from pydantic import AfterValidator, Field

# int8 in PostgreSQL; far above any real deal, far below overflow when thousands are summed.
MAX_MINOR_UNITS = 10**15


def _currencies_in_use() -> frozenset[str]:
    today = date.today()
    codes: set[str] = set()
    for territory in Locale("en").territories:
        if isinstance(territory, str) and len(territory) == 2 and territory.isalpha():
            codes.update(get_territory_currencies(territory, today))
    return frozenset(codes)


CURRENCIES = _currencies_in_use()


def _currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError("must be an ISO 4217 currency in use, in capitals, such as EUR, USD or JPY")
    return code


Currency = Annotated[
    str, Field(min_length=3, max_length=3, description="ISO 4217, e.g. EUR"), AfterValidator(_currency)
]
MinorUnits = Annotated[
    int, Field(ge=0, le=MAX_MINOR_UNITS, description="In the currency's minor unit: 1050 is EUR 10.50")
]


def minor_unit_digits(currency: str) -> int:
    """How many decimals the currency's minor unit has: 2 for EUR, 0 for JPY, 3 for KWD."""
    return int(get_currency_precision(currency))
