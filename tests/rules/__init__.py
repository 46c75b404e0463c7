"""Tests of `remediator.rules`; `make_alert` builds the Alert values the rules see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from remediator.model import Alert, AlertStatus


def make_alert(
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    *,
    status: AlertStatus = "firing",
) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint="0000000000000000",
        status=status,
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
        starts_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
