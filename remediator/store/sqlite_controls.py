"""Human decisions and delivery ids in SQLite: a mixin of `SqliteJournal` (see `controls.py`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from remediator.store.controls import Control, ControlKind
from remediator.store.sqlite_writer import SqliteWriter


class ControlRecords(SqliteWriter):
    async def set_control(self, kind: ControlKind, key: str, value: Mapping[str, Any], *, actor: str) -> None:
        row = (kind, key, json.dumps(dict(value), default=str), actor, self._clock.now().timestamp())

        def job(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO controls(kind, key, value, actor, at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value, actor = excluded.actor,"
                " at = excluded.at",
                row,
            )

        await self._submit(job)

    async def clear_control(self, kind: ControlKind, key: str) -> bool:
        def job(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM controls WHERE kind = ? AND key = ?", (kind, key))
            return bool(cur.rowcount)

        return await self._submit(job)

    async def controls(self) -> list[Control]:
        rows = await self._r.execute_fetchall("SELECT kind, key, value, actor, at FROM controls ORDER BY at")
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
