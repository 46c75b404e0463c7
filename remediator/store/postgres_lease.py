"""Each replica's lease on the shared journal: registered at start, renewed by a heartbeat, expired
at a clean stop. A mixin of `PostgresJournal`.

The lease (`replicas.lease_until`) is kept in database time, so replicas' clocks need not agree.
Executions belong to the replica that decided them; once its lease has expired another replica
interrupts them (`PostgresScope.interrupt_unfinished`) and decides them again (`engine/recovery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from typing import TYPE_CHECKING

import asyncpg

from remediator.logs import get_logger

log = get_logger("remediator.store")


class PostgresLease:
    """Registering, renewing and giving up this replica's lease."""

    _pool: asyncpg.Pool
    replica: str
    _lease_s: float
    _stopping: asyncio.Event

    if TYPE_CHECKING:

        async def _refresh_backlog(self) -> None: ...

    async def _register(self) -> None:
        await self._pool.execute(
            "INSERT INTO replicas(id, host, lease_until)"
            " VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))",
            self.replica,
            socket.gethostname(),
            self._lease_s,
        )

    async def _retire(self) -> None:
        """A clean stop: expire the lease now, so another replica takes over what is unfinished at once."""
        with contextlib.suppress(Exception):
            await self._pool.execute(
                "UPDATE replicas SET lease_until = clock_timestamp() WHERE id = $1", self.replica
            )

    async def _heartbeat_loop(self) -> None:
        every = self._lease_s / 3
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                renewed = await self._pool.execute(
                    "UPDATE replicas SET lease_until = clock_timestamp() + make_interval(secs => $2)"
                    " WHERE id = $1",
                    self.replica,
                    self._lease_s,
                )
                if renewed == "UPDATE 0":
                    log.error(
                        "this replica's lease had expired: its unfinished executions were taken over",
                        replica=self.replica,
                    )
                    await self._register()
                await self._refresh_backlog()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("journal heartbeat failed", replica=self.replica, error=str(e))


def replica_name() -> str:
    """This daemon's name among replicas: the pod name (hostname) and a random suffix per start."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{secrets.token_hex(3)}"
