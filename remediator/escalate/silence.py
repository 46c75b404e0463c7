"""Alertmanager silences (API v2): mute an alert's notifications while remediator works on it.

Called by the `silence` step before an action, so humans are not paged for what is being fixed, and
again to expire the silence once the remediation is verified (or failed and escalated: then the
humans must hear about it). A silence also ends by itself at `endsAt`, so a daemon that dies mid-way
cannot mute an alert for longer than the step's duration.

Errors are raised, as from the Kubernetes actions: `TransientActionError` after the retries are spent
(429, 5xx, timeouts), `PermanentActionError` for requests Alertmanager refuses (400/422: bad matchers).
Creating is not idempotent: a retry after a lost answer can leave two identical silences, and both
expire at the same time, which is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiohttp

from remediator.actions.retry import RetryPolicy
from remediator.clock import Clock
from remediator.errors import PermanentActionError
from remediator.escalate._http import HttpReply, send_json_with_retries
from remediator.logs import get_logger

log = get_logger("remediator.actions")


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _already_gone(reply: HttpReply) -> bool:
    """404 (Alertmanager 0.27+), or the 500 "silence not found" older releases answer instead."""
    return reply.status == 404 or (reply.status == 500 and "not found" in reply.text.lower())


class AlertmanagerSilences:
    """Silences on one Alertmanager (or one member of a cluster: silences gossip to the others)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        clock: Clock,
        retry: RetryPolicy,
        timeout_s: float = 10,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._retry = retry
        self._timeout_s = timeout_s

    async def create(
        self,
        *,
        labels: Mapping[str, str],
        duration_s: float,
        comment: str,
        created_by: str = "remediator",
    ) -> str:
        """Silence alerts carrying all of `labels` (one equality matcher each) for `duration_s`.

        Returns the silence id. Leaving out labels that change per episode is the caller's choice.
        """
        if not labels:
            raise PermanentActionError("silence: no labels to match; refusing to silence everything")
        if duration_s <= 0:
            raise PermanentActionError(f"silence: duration {duration_s!r}s must be positive")
        now = self._clock.now()
        body = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(labels.items())
            ],
            "startsAt": _rfc3339(now),
            "endsAt": _rfc3339(now + timedelta(seconds=duration_s)),
            "createdBy": created_by,
            "comment": comment,
        }
        reply, attempts = await send_json_with_retries(
            self._session,
            "POST",
            f"{self._base}/api/v2/silences",
            what="alertmanager silence create",
            clock=self._clock,
            retry=self._retry,
            timeout_s=self._timeout_s,
            body=body,
        )
        silence_id = reply.json.get("silenceID") if isinstance(reply.json, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise PermanentActionError(
                f"alertmanager silence create: no silenceID in the answer {reply.text!r}"
            )
        log.info(
            "silence created",
            silence_id=silence_id,
            matchers=len(labels),
            duration_s=duration_s,
            attempts=attempts,
        )
        return silence_id

    async def expire(self, silence_id: str) -> None:
        """Expire a silence now. One that is already expired or unknown counts as done."""
        reply, attempts = await send_json_with_retries(
            self._session,
            "DELETE",
            f"{self._base}/api/v2/silence/{quote(silence_id, safe='')}",
            what=f"alertmanager silence expire {silence_id!r}",
            clock=self._clock,
            retry=self._retry,
            timeout_s=self._timeout_s,
            also_fine=_already_gone,
        )
        gone = reply.status >= 300
        log.info("silence expired", silence_id=silence_id, already_gone=gone, attempts=attempts)
