"""An alert as the journal's `alerts` table stores it: one conversion for both back-ends, which insert
the same columns (each with its own placeholders and ids)."""

from __future__ import annotations

import json
from typing import Any

from remediator.model import Alert

ALERT_COLUMNS = (
    "payload_id, source, fingerprint, status, starts_at, ends_at, labels, annotations, generator_url"
)
"""The columns `alert_row` fills, in its order (the id comes first, from each back-end)."""


def alert_row(a: Alert) -> tuple[Any, ...]:
    """The values of `ALERT_COLUMNS` for `a` (times as epoch seconds, labels and annotations as JSON)."""
    return (
        a.payload_id,
        a.source,
        a.fingerprint,
        a.status,
        a.starts_at.timestamp(),
        a.ends_at.timestamp() if a.ends_at is not None else None,
        json.dumps(dict(a.labels)),
        json.dumps(dict(a.annotations)),
        a.generator_url,
    )
