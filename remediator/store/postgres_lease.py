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
    _beat: asyncpg.Connection
    """The heartbeat's own connection (see `renew_lease`)."""
    _beat_lock: asyncio.Lock

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
        """Renew the lease every third of it. The backlog re-read that follows is bounded, so it
        cannot delay the next renewal."""
        every = self._lease_s / 3
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                await self.renew_lease()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(every):
                        await self._refresh_backlog()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("journal heartbeat failed", replica=self.replica, error=str(e))

    async def renew_lease(self) -> bool:
        """One heartbeat: renew this replica's lease; False when it was gone (taken over by another
        replica: this one registers again, and what it was running is no longer its own).

        On a connection of its own: with the pool's connections all busy (a storm's executions
        waiting to finish behind a decision turn) a shared one would wait, and the lease would lapse
        while this replica is alive and acting. A lease that expired but is still there was taken
        by no one: renewing it is safe (a take-over deletes it first, under the same row lock)."""
        async with self._beat_lock:
            lapsed = await self._beat.fetchval(
                "WITH old AS (SELECT lease_until FROM replicas WHERE id = $1 FOR UPDATE)"
                " UPDATE replicas r SET lease_until = clock_timestamp() + make_interval(secs => $2)"
                " FROM old WHERE r.id = $1 RETURNING old.lease_until < clock_timestamp()",
                self.replica,
                self._lease_s,
            )
            if lapsed is None:
                log.error(
                    "this replica's lease had expired: its unfinished executions were taken over",
                    replica=self.replica,
                )
                await self._register()
                return False
        if lapsed:
            log.warning(
                "this replica's lease had expired before its heartbeat renewed it (nobody took over):"
                " the heartbeat is starved; a longer journal lease would ride this out",
                replica=self.replica,
                lease_s=self._lease_s,
            )
        return True


def replica_name() -> str:
    """This daemon's name among replicas: the pod name (hostname) and a random suffix per start."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{secrets.token_hex(3)}"
