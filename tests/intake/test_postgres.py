"""The intake process's PostgreSQL journal beside the main process's: NOTIFY wakes the processor,
shedding sees the backlog on the database, and an unmigrated database is refused."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from remediator.errors import ConfigError
from remediator.store import JournalOverloaded
from remediator.store.postgres import PostgresJournal
from remediator.store.postgres_intake_only import PostgresIntakeOnly
from tests.pgserver import PASSWORD_ENV


@pytest.fixture
async def main(pg_url: str) -> AsyncIterator[PostgresJournal]:
    async with PostgresJournal.open(pg_url, password=os.environ[PASSWORD_ENV], lease_s=2.0) as journal:
        yield journal


async def test_a_payload_the_intake_writes_wakes_the_main_process(main: PostgresJournal, pg_url: str) -> None:
    async with PostgresIntakeOnly.open(pg_url, password=os.environ[PASSWORD_ENV]) as intake:
        await main.wait_for_payloads(timeout_s=0)  # idle: counts the backlog, arms the wake-up
        waiting = asyncio.create_task(main.wait_for_payloads(timeout_s=30))
        await asyncio.sleep(0)
        first = await intake.accept("alertmanager", b"{}")
        again = await intake.accept_once("pagerduty", b"{}", delivery_id="d-1", ttl_s=3600)
        assert await intake.accept_once("pagerduty", b"{}", delivery_id="d-1", ttl_s=3600) is None
        async with asyncio.timeout(10):
            await waiting  # the NOTIFY in the intake's insert
        async with main.deciding() as scope:
            assert [p.id for p in await scope.pending_payloads(10)] == [first, again]


async def test_the_intake_sheds_by_the_backlog_on_the_database(main: PostgresJournal, pg_url: str) -> None:
    async with PostgresIntakeOnly.open(pg_url, password=os.environ[PASSWORD_ENV], max_backlog=2) as intake:
        for _ in range(2):
            await intake.accept("alertmanager", b"{}")
        with pytest.raises(JournalOverloaded, match="backlog of 2"):
            await intake.accept("alertmanager", b"{}")
        async with main.deciding() as scope:
            batch = await scope.pending_payloads(10)
            await scope.record_batch(payload_ids=[p.id for p in batch], alerts=[], decisions=[])
        await intake._refresh_backlog()  # what its refresh does every second
        await intake.accept("alertmanager", b"{}")
        assert intake.backlog() == 1


async def test_an_unmigrated_database_is_refused(pg_url: str) -> None:
    with pytest.raises(ConfigError, match="schema version 0"):
        async with PostgresIntakeOnly.open(pg_url, password=os.environ[PASSWORD_ENV]):
            pass
