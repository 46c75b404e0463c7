"""The back-ends the journal contract suite runs on: SQLite in tmp_path, PostgreSQL in a fresh database."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediator.model import ActionSpec, Alert, Decision, Outcome, RuleName, Target
from remediator.store.postgres import PostgresJournal
from remediator.store.sqlite import SqliteJournal
from tests.pgserver import PASSWORD_ENV

T0 = datetime(2026, 11, 23, tzinfo=UTC)
TARGET = Target(kind="Deployment", namespace="shop", name="checkout")


def alert(fp: str = "abc", status: str = "firing") -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=fp,
        status=status,  # type: ignore[arg-type]
        labels={"alertname": "HighErrorRate"},
        annotations={"value": "42"},
        starts_at=T0,
    )


def decision(
    a: Alert,
    outcome: Outcome = Outcome.ACT,
    *,
    at: datetime = T0,
    dry_run: bool = False,
    target: Target = TARGET,
    rule: str = "r1",
) -> Decision:
    return Decision(
        alert=a,
        rule=RuleName(rule),
        target=target,
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=outcome,
        reason="because",
        dry_run=dry_run,
        decided_at=at,
    )


@dataclass(frozen=True)
class Backend:
    """Opens journals on one store (a file, a database): every `open` sees what the previous ones wrote."""

    name: str
    opener: Callable[..., contextlib.AbstractAsyncContextManager[Any]]

    def open(self, **kwargs: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        return self.opener(**kwargs)


def postgres_backend(url: str) -> Backend:
    def opener(**kwargs: Any) -> contextlib.AbstractAsyncContextManager[PostgresJournal]:
        kwargs.setdefault("lease_s", 2.0)
        return PostgresJournal.open(url, password=os.environ[PASSWORD_ENV], **kwargs)

    return Backend("postgres", opener)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each journal back-end in turn; PostgreSQL starts (once per worker) only when asked for."""
    if request.param == "sqlite":
        path = tmp_path / "journal.sqlite"
        return Backend("sqlite", lambda **kwargs: SqliteJournal.open(path, **kwargs))
    return postgres_backend(request.getfixturevalue("pg_url"))
