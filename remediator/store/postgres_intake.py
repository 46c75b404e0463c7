"""The shared journal's intake: webhook payloads written in group commits, from any replica.

Payloads queued while a commit is in flight share the next one (one `INSERT ... SELECT FROM
unnest(...)`, one round trip, one WAL flush), and the 2xx still means "durably written". A NOTIFY in
the same statement wakes every replica's processor. A mixin of `PostgresJournal`.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from remediator.clock import Clock
from remediator.model import PayloadId
from remediator.store.admission import Accept, Admission
from remediator.store.postgres_controls import PostgresControlRecords
from remediator.store.postgres_scheduling import PostgresSchedulingRecords
from remediator.store.records import JournalUnavailable

NOTIFY_CHANNEL = "remediator_payloads"
_MAX_ACCEPTS_PER_COMMIT = 2048

INSERT_PAYLOADS = (
    "WITH r AS (SELECT nextval('payloads_id_seq') AS id, u.ord, u.s, u.t, u.b"
    " FROM unnest($1::text[], $2::float8[], $3::bytea[]) WITH ORDINALITY AS u(s, t, b, ord)),"
    " ins AS (INSERT INTO payloads(id, source, received_at, body) SELECT id, s, t, b FROM r)"
    f" SELECT r.id FROM r CROSS JOIN (SELECT pg_notify('{NOTIFY_CHANNEL}', '')) AS n ORDER BY r.ord"
)


class PostgresIntake(Admission, PostgresSchedulingRecords, PostgresControlRecords):
    """Accepting payloads (group commit, delivery ids, load shedding) and waiting for new ones."""

    _pool: asyncpg.Pool
    _clock: Clock
    _max_pending: int
    _max_backlog: int
    _queue: asyncio.Queue[Accept | None]
    _new_payloads: asyncio.Event
    _backlog: int
    _waiting_accepts: int
    _claims_full: bool
    commits: int
    accepted: int

    async def _count_backlog(self) -> int:
        return int(await self._pool.fetchval("SELECT count(*) FROM payloads WHERE processed_at IS NULL"))

    async def _refresh_backlog(self) -> None:
        """Other replicas accept and process too: the counts this replica serves are re-read."""
        self._backlog = await self._count_backlog()
        self._deferred_waiting = await self._count_deferred_waiting()

    def _notified(self, *_: object) -> None:
        self._new_payloads.set()

    # -- intake ------------------------------------------------------------------------------------

    def _enqueue_accept(self, accept: Accept) -> None:
        self._queue.put_nowait(accept)

    async def _writer_loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            # One turn of the event loop: webhooks arriving together share this commit.
            await asyncio.sleep(0)
            batch = [first]
            closing = False
            while len(batch) < _MAX_ACCEPTS_PER_COMMIT and not self._queue.empty():
                op = self._queue.get_nowait()
                if op is None:
                    closing = True
                    break
                batch.append(op)
            await self._commit_accepts(batch)
            if closing:
                return

    async def _commit_accepts(self, batch: list[Accept]) -> None:
        repeats: list[Accept] = []
        try:
            async with self._pool.acquire() as conn:
                if any(a.delivery_id is not None for a in batch):
                    async with conn.transaction():
                        batch, repeats = await self._drop_repeated_deliveries(conn, batch)
                        rows = await self._insert_payloads(conn, batch)
                else:
                    rows = await self._insert_payloads(conn, batch)  # one statement: its own commit
        except Exception as e:
            err = JournalUnavailable(f"journal write failed: {e}")
            for a in batch + repeats:
                if not a.future.done():
                    a.future.set_exception(err)
            return
        self.commits += 1
        self.accepted += len(batch)
        self._backlog += len(batch)
        if batch:
            self._new_payloads.set()
        for a in repeats:
            if not a.future.done():
                a.future.set_result(None)
        for a, r in zip(batch, rows, strict=True):
            if not a.future.done():
                a.future.set_result(PayloadId(r[0]))

    @staticmethod
    async def _insert_payloads(conn: asyncpg.Connection, batch: list[Accept]) -> list[asyncpg.Record]:
        if not batch:
            return []
        return list(
            await conn.fetch(
                INSERT_PAYLOADS,
                [a.source for a in batch],
                [a.received_at for a in batch],
                [a.body for a in batch],
            )
        )

    async def _drop_repeated_deliveries(
        self, conn: asyncpg.Connection, batch: list[Accept]
    ) -> tuple[list[Accept], list[Accept]]:
        """(accepts to write, repeats): a delivery id seen within its time to live, on any replica or
        earlier in this batch, is a repeat; the others' ids are claimed in this transaction."""
        now = self._clock.now().timestamp()
        fresh: list[Accept] = []
        repeats: list[Accept] = []
        seen: set[str] = set()
        for a in batch:
            if a.delivery_id is None:
                fresh.append(a)
            elif a.delivery_id in seen or not await self._claim_delivery(conn, a.delivery_id, a.ttl_s, now):
                repeats.append(a)
            else:
                seen.add(a.delivery_id)
                fresh.append(a)
        if seen:
            await self._forget_deliveries(conn, max(a.ttl_s for a in batch if a.delivery_id), now)
        return fresh, repeats

    def backlog(self) -> int:
        return self._backlog

    async def probe_write(self) -> None:
        self._refuse_if_shedding()  # readiness says what a webhook would get
        try:
            await self._pool.execute(
                "INSERT INTO deliveries(id, at) VALUES ($1, $2)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                "remediator:readiness-probe",
                self._clock.now().timestamp(),
            )
        except Exception as e:
            raise JournalUnavailable(f"journal write failed: {e}") from None

    def intake_waiting(self) -> int:
        return self._waiting_accepts

    async def wait_for_payloads(self, timeout_s: float) -> None:
        if self._claims_full:
            return  # the last claim took a full batch: there is more
        self._new_payloads.clear()
        # Idle here: what is left is being processed by other replicas (or nothing is): count it.
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._refresh_backlog()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._new_payloads.wait()
