"""Human decisions and delivery ids in PostgreSQL: a mixin of `PostgresJournal` (see `controls.py`).

Every replica reads the same rows, so a pause set through one replica's API holds on all of them
once they read the controls again (at start-up, and when `controls()` is polled).

A delivery id is claimed with one upsert that only succeeds when the id is new or older than its
time to live; two replicas receiving the same PagerDuty delivery at once serialize on the row, and
the second sees the first's claim: one payload is journaled, not two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from remediator.clock import Clock
from remediator.store.controls import Control, ControlKind


class PostgresControlRecords:
    _pool: asyncpg.Pool
    _clock: Clock

    async def set_control(self, kind: ControlKind, key: str, value: Mapping[str, Any], *, actor: str) -> None:
        await self._pool.execute(
            "INSERT INTO controls(kind, key, value, actor, at) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, actor = excluded.actor,"
            " at = excluded.at",
            kind,
            key,
            json.dumps(dict(value), default=str),
            actor,
            self._clock.now().timestamp(),
        )

    async def clear_control(self, kind: ControlKind, key: str) -> bool:
        done = await self._pool.execute("DELETE FROM controls WHERE kind = $1 AND key = $2", kind, key)
        return bool(done != "DELETE 0")

    async def controls(self) -> list[Control]:
        rows = await self._pool.fetch("SELECT kind, key, value, actor, at FROM controls ORDER BY at")
        return [
            Control(
                kind=cast(ControlKind, r[0]),
                key=r[1],
                value=json.loads(r[2]),
                actor=r[3],
                at=datetime.fromtimestamp(r[4], UTC),
            )
            for r in rows
        ]

    @staticmethod
    async def _claim_delivery(conn: asyncpg.Connection, delivery_id: str, ttl_s: float, now: float) -> bool:
        """True if this delivery id is new (or its last use is older than `ttl_s`): claim it now."""
        claimed = await conn.fetchval(
            "INSERT INTO deliveries(id, at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET at = excluded.at"
            " WHERE deliveries.at <= $3 RETURNING 1",
            delivery_id,
            now,
            now - ttl_s,
        )
        return claimed is not None

    @staticmethod
    async def _forget_deliveries(conn: asyncpg.Connection, ttl_s: float, now: float) -> None:
        await conn.execute("DELETE FROM deliveries WHERE at <= $1", now - ttl_s)
