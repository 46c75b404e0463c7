"""The read model's shared vocabulary: pages and cursors, incident ids, times as RFC 3339.

Every back-end's read queries answer in these terms, so the API, `ctl` and the console read the
same shapes whichever database holds the journal.

Pagination is keyset, newest first: a cursor is the last row's id as an opaque string, so a
page never shifts when new rows arrive while an on-call pages through. Times are returned as
RFC 3339 strings in UTC; JSON columns (labels, changes, audit details) are decoded.

Reads are total: whatever a row holds, a read answers instead of failing. A time no datetime can
hold is shown as the nearest one that can (years 1 and 9999), a JSON column that does not parse as
an empty object or list. Intake refuses such values; rows written before it did, or edited by hand,
must not make a read endpoint answer 500 for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_ID = 2**63 - 1
"""The largest id (SQLite's integer, PostgreSQL's bigint): a cursor or an id beyond it is no row."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of rows, newest first, and the cursor of the next page (None: this was the last)."""

    items: list[dict[str, Any]]
    next: str | None


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def iso(ts: float | None) -> str | None:
    """A stored Unix time as RFC 3339 (None for none); see `dt` for times beyond datetime's range."""
    at = dt(ts)
    return at.isoformat() if at is not None else None


def dt(ts: float | None) -> datetime | None:
    """A stored Unix time as a datetime (None for none). One beyond what a datetime can hold (written
    before intake refused such times, or by hand) is the nearest one that can: year 1 or year 9999."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        try:
            return _LATEST if float(ts) > 0 else _EARLIEST
        except (TypeError, ValueError):
            return _EARLIEST


def obj(text: str | bytes | None) -> Any:
    """A stored JSON column, or {} when it is not JSON."""
    if text is None:
        return {}
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return {}


def listing(text: str | bytes | None) -> list[Any]:
    """A stored JSON array column (an execution's changes), or [] when it is not one."""
    value = obj(text)
    return value if isinstance(value, list) else []


def mapping(text: str | bytes | None) -> dict[str, Any]:
    """A stored JSON object column (labels, annotations), or {} when it is not one."""
    value = obj(text)
    return value if isinstance(value, dict) else {}


def parse_cursor(cursor: str | None) -> int:
    """The id to continue below. Raises ValueError for anything that is not a cursor we gave out."""
    if cursor is None or cursor == "":
        return MAX_ID
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19 or not 0 < int(cursor) <= MAX_ID:
        raise ValueError(f"cursor {cursor[:40]!r} is not a cursor this API gave out")
    return int(cursor)


def incident_id(fingerprint: str, starts_at: float) -> str:
    """Stable id of an alert episode: `<fingerprint>-<startsAt as unix seconds>`."""
    return f"{fingerprint}-{int(starts_at)}"


def split_incident_id(value: str) -> tuple[str, int] | None:
    fingerprint, sep, seconds = value.rpartition("-")
    negative = fingerprint.endswith("-")  # an episode before 1970: `<fingerprint>--<seconds>`
    if negative:
        fingerprint = fingerprint[:-1]
    if not sep or not fingerprint or not seconds.isascii() or not seconds.isdigit() or len(seconds) > 12:
        return None
    return fingerprint, -int(seconds) if negative else int(seconds)


def approval_json(a: dict[str, Any]) -> dict[str, Any]:
    """A journal approval row (times as unix seconds) with RFC 3339 times and the actions as a list."""
    out = dict(a)
    for key in ("created_at", "expires_at", "decided_at"):
        out[key] = iso(a[key])
    out["actions"] = a["actions"].split("+") if a.get("actions") else []
    return out
