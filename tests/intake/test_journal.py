"""Two processes writing payloads into one SQLite journal: the main process's and the intake's.

Run here in one process, with the two journal objects on one file, as the two processes hold them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from remediator.api.state import WebhookState
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.intake.child import build_intake_app
from remediator.metrics import IntakeMetrics
from remediator.secrets import Secret
from remediator.store import JournalOverloaded, JournalUnavailable
from remediator.store.sqlite import SqliteJournal
from remediator.store.sqlite_intake import SqliteIntake
from tests.scenarios.conftest import TOKEN, am_alert, am_payload, auth


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
async def main(path: Path) -> AsyncIterator[SqliteJournal]:
    async with SqliteJournal.open(path, synchronous="normal") as journal:
        yield journal


async def test_both_processes_write_payloads_with_distinct_ids_and_the_backlog_counts_all(
    main: SqliteJournal, path: Path
) -> None:
    async with SqliteIntake.open(path, synchronous="normal") as intake:
        ids = await asyncio.gather(
            *(intake.accept("alertmanager", b"{}") for _ in range(60)),
            *(main.accept("alertmanager", b"{}") for _ in range(40)),
        )
        assert sorted(ids) == list(range(1, 101))
        await main.poll_payloads()
        assert main.backlog() == 100
        batch = await main.pending_payloads(30)
        await main.record_batch(payload_ids=[p.id for p in batch], alerts=[], decisions=[])
        assert main.backlog() == 70
        backlog, as_of = main.backlog_mark()
        await intake.accept("alertmanager", b"{}")  # committed after the main process counted
        intake.backlog_told(backlog, as_of=as_of)
        assert intake.backlog() == 71
        main.payloads_written(101)
        assert main.backlog() == 71


async def test_a_wake_up_from_the_intake_wakes_the_processor(main: SqliteJournal, path: Path) -> None:
    async with SqliteIntake.open(path, synchronous="normal") as intake:
        waiting = asyncio.create_task(main.wait_for_payloads(timeout_s=30))
        await asyncio.sleep(0)
        intake.on_commit(lambda highest: main.payloads_written(highest))
        await intake.accept("alertmanager", b"{}")
        async with asyncio.timeout(5):
            await waiting
        assert main.backlog() == 1


async def test_the_intake_sheds_by_the_backlog_on_disk(main: SqliteJournal, path: Path) -> None:
    for _ in range(3):
        await main.accept("alertmanager", b"{}")
    async with SqliteIntake.open(path, synchronous="normal", max_backlog=4) as intake:
        await intake.accept("alertmanager", b"{}")
        with pytest.raises(JournalOverloaded, match="backlog of 4"):
            await intake.accept("alertmanager", b"{}")
        with pytest.raises(JournalOverloaded):
            await intake.probe_write()
        intake.backlog_told(1, as_of=4)  # the main process decided three of them
        await intake.accept("alertmanager", b"{}")
        assert intake.backlog() == 2


@pytest.fixture
async def intake_client(
    main: SqliteJournal, path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> AsyncIterator[tuple[TestClient, SqliteIntake]]:
    async with SqliteIntake.open(path, synchronous="normal", max_backlog=2) as intake:
        state = WebhookState(
            settings=Settings(),
            journal=intake,
            metrics=IntakeMetrics(),
            clock=FakeClock(),
            webhook_token=Secret(TOKEN),
        )
        yield await aiohttp_client(build_intake_app(state)), intake


async def test_a_full_backlog_answers_503_with_retry_after(
    intake_client: tuple[TestClient, SqliteIntake],
) -> None:
    client, intake = intake_client
    for _ in range(2):
        resp = await client.post("/webhook/alertmanager", data=am_payload(am_alert()), headers=auth())
        assert resp.status == 202, await resp.text()
    resp = await client.post("/webhook/alertmanager", data=am_payload(am_alert()), headers=auth())
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert "overloaded" in (await resp.json())["error"]
    intake.backlog_told(0, as_of=2)  # processed meanwhile
    resp = await client.post("/webhook/alertmanager", data=am_payload(am_alert()), headers=auth())
    assert resp.status == 202


async def test_writes_waiting_in_the_intake_keep_the_main_process_batches_small(
    main: SqliteJournal, path: Path
) -> None:
    """The processor takes small batches while webhook writes wait (engine/processor.py reads
    `intake_waiting`): the intake process's count reaches it through `payloads_written`."""
    async with SqliteIntake.open(path, synchronous="normal") as intake:
        told: list[tuple[int, int]] = []
        intake.before_commit(lambda n: told.append((0, n)))
        intake.on_commit(lambda highest: told.append((highest, intake.queued())))
        await asyncio.gather(*(intake.accept("alertmanager", b"{}") for _ in range(3)))
        assert told[0] == (0, 3) and told[-1] == (3, 0)
        for highest, waiting in told[:1]:
            main.payloads_written(highest, waiting=waiting)
        assert main.intake_waiting() == 3
        for highest, waiting in told[1:]:
            main.payloads_written(highest, waiting=waiting)
        assert main.intake_waiting() == 0 and main.backlog() == 3


async def test_the_intake_waits_for_the_main_process_write_lock_in_short_turns(
    main: SqliteJournal, path: Path
) -> None:
    release = threading.Event()
    holding = threading.Event()

    def long_decision(db: object) -> None:  # a decision transaction that takes its time
        holding.set()
        release.wait(10)

    async with SqliteIntake.open(path, synchronous="normal", busy_timeout_ms=5000) as intake:
        decided = asyncio.create_task(main._submit(long_decision))
        await asyncio.to_thread(holding.wait, 10)
        accepted = asyncio.create_task(intake.accept("alertmanager", b"{}"))
        await asyncio.sleep(0.05)  # the lock is held: the accept cannot commit yet
        assert not accepted.done()
        release.set()
        await decided
        async with asyncio.timeout(1):  # not a busy handler's 100 ms sleeps after the release
            assert await accepted == 1


async def test_a_write_lock_held_past_busy_timeout_is_a_503_not_a_hang(
    main: SqliteJournal, path: Path
) -> None:
    release = threading.Event()
    holding = threading.Event()

    def stuck(db: object) -> None:
        holding.set()
        release.wait(10)

    async with SqliteIntake.open(path, synchronous="normal", busy_timeout_ms=100) as intake:
        decided = asyncio.create_task(main._submit(stuck))
        await asyncio.to_thread(holding.wait, 10)
        with pytest.raises(JournalUnavailable, match="locked"):
            await intake.accept("alertmanager", b"{}")
        release.set()
        await decided
        assert await intake.accept("alertmanager", b"{}") == 1
