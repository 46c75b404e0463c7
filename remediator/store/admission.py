"""Webhook writes admitted to a journal's group commit, the same on both back-ends.

A write is refused (JournalOverloaded: the webhook answers 503, Alertmanager retries) when too many
wait for the commit or the unprocessed backlog is full; otherwise it waits for the commit that stores
it. Each journal's writer loop drains `_enqueue_accept`'s queue and commits in batches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from remediator.clock import Clock
from remediator.model import PayloadId, Source
from remediator.store.records import JournalOverloaded


@dataclass
class Accept:
    """One webhook body waiting for the group commit; `future` gets its payload id."""

    source: Source
    body: bytes
    received_at: float
    future: asyncio.Future[PayloadId | None]
    delivery_id: str | None = None
    """A sender's delivery id (PagerDuty's X-Webhook-Id): a repeat within `ttl_s` is not written."""
    ttl_s: float = 0.0


class Admission:
    """`accept` and `accept_once` over a writer queue; the journal sets the bounds and counters."""

    _clock: Clock
    _max_pending: int
    _max_backlog: int
    _backlog: int
    _waiting_accepts: int

    def _enqueue_accept(self, accept: Accept) -> None:
        raise NotImplementedError

    def _refuse_if_shedding(self) -> None:
        """What the readiness probe checks first: would a webhook be shed now?"""
        if self._waiting_accepts >= self._max_pending or self._backlog >= self._max_backlog:
            raise JournalOverloaded(
                f"shedding webhooks: {self._waiting_accepts} writes waiting (max {self._max_pending}), "
                f"backlog {self._backlog} (max {self._max_backlog})"
            )

    async def accept(self, source: Source, body: bytes) -> PayloadId:
        payload_id = await self._accept(source, body, delivery_id=None, ttl_s=0.0)
        assert payload_id is not None  # only a delivery id makes a repeat
        return payload_id

    async def accept_once(
        self, source: Source, body: bytes, *, delivery_id: str, ttl_s: float
    ) -> PayloadId | None:
        return await self._accept(source, body, delivery_id=delivery_id, ttl_s=ttl_s)

    async def _accept(
        self, source: Source, body: bytes, *, delivery_id: str | None, ttl_s: float
    ) -> PayloadId | None:
        # Only webhook writes count: the daemon's own work queued behind them is not shed.
        if self._waiting_accepts >= self._max_pending:
            raise JournalOverloaded(
                f"{self._waiting_accepts} webhook writes waiting (max {self._max_pending})"
            )
        if self._backlog >= self._max_backlog:
            raise JournalOverloaded(
                f"backlog of {self._backlog} unprocessed payloads (max {self._max_backlog})"
            )
        fut: asyncio.Future[PayloadId | None] = asyncio.get_running_loop().create_future()
        self._enqueue_accept(Accept(source, body, self._clock.now().timestamp(), fut, delivery_id, ttl_s))
        self._waiting_accepts += 1
        try:
            return await fut
        finally:
            self._waiting_accepts -= 1
