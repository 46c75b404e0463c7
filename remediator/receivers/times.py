"""Times from outside (RFC 3339 strings in payloads and API bodies), checked once, at intake.

A valid RFC 3339 time can still be one Python cannot hold once converted to UTC
(`0001-01-01T00:00:00+01:00` is year 0; `9999-12-31T23:59:59-01:00` is year 10000), and the journal
stores Unix seconds that must read back as a datetime. Such a time is refused with a 4xx at intake,
so nothing stored can make a later read fail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def storable(value: datetime) -> datetime:
    """`value` (naive means UTC) if it survives conversion to UTC and to Unix seconds and back."""
    if 1 < value.year < 9999 and value.tzinfo is not None:
        return value  # an offset is under a day: only the first and last year can leave the range
    try:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        utc = aware.astimezone(UTC)
        datetime.fromtimestamp(utc.timestamp(), UTC)
    except (OverflowError, ValueError, OSError):
        raise ValueError(
            "time is outside the range remediator can store once converted to UTC (years 1 to 9999)"
        ) from None
    return aware


StorableTime = Annotated[AwareDatetime, AfterValidator(storable)]
"""An RFC 3339 time with an offset that converts to UTC and Unix seconds and back."""

LenientStorableTime = Annotated[datetime, AfterValidator(storable)]
"""The same, where a time without an offset is read as UTC (the override API's trigger)."""
