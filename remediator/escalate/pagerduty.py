"""Escalation to a human through PagerDuty's Events API v2: trigger, and resolve with the same key.

Called by the escalation step when a remediation fails (`on_failure: escalate: {to: pagerduty}`) and
again when the alert clears. Results come back as values and nothing is raised: a failed page must be
recorded and counted by the caller, never crash the action runner.

PagerDuty answers 202 when it took the event, 400 for an event it will never take (failed at once), and
429 or 5xx when it could not take it now: those, and network errors, are retried with back-off through
`call_with_retries`, honouring Retry-After (the Events API allows about 120 events a minute per key).
The routing key travels only in the request body; it is masked in every message and never logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from remediator.actions.retry import RetryPolicy, attempts_of
from remediator.clock import Clock
from remediator.errors import RemediatorError
from remediator.escalate._http import send_json_with_retries
from remediator.logs import get_logger
from remediator.secrets import Secret
from remediator.severity import pagerduty_severity

log = get_logger("remediator.actions")

Severity = Literal["critical", "error", "warning", "info"]
MAX_SUMMARY_CHARS = 1024
MAX_DEDUP_KEY_CHARS = 255


def severity_for(priority: str | None) -> Severity:
    """PagerDuty severity for a rule's severity on any scale: critical for P0/P1/SEV1/critical, error
    for P2, warning for P3, info for P4 or none (`severity.pagerduty_severity`)."""
    return pagerduty_severity(priority)


def clip_dedup_key(key: str) -> str:
    """`key` if it fits PagerDuty's 255 characters; else a prefix plus a hash of the whole key.

    Plain truncation would make two long keys with a common prefix page as one incident.
    """
    if len(key) <= MAX_DEDUP_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_DEDUP_KEY_CHARS - len(digest) - 1]}~{digest}"


def dedup_key_for(rule: str, target_key: str) -> str:
    """The stable dedup key of a rule's escalation about one target (`Target.key`: namespace/kind/name).

    The same rule failing again on the same target updates the open PagerDuty alert instead of opening
    another one, and the resolve sent when the alert clears finds it.
    """
    return clip_dedup_key(f"remediator/{rule}/{target_key}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventResult:
    status: Literal["accepted", "failed"]
    attempts: int
    dedup_key: str
    error: str = ""
    """Why it failed, one line, secrets masked. Empty when accepted."""

    @property
    def ok(self) -> bool:
        return self.status == "accepted"


class PagerDutyEvents:
    """Events API v2 client for one routing key (one PagerDuty service or ruleset)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        routing_key: Secret,
        url: str,
        clock: Clock,
        retry: RetryPolicy,
        timeout_s: float = 10,
    ) -> None:
        self._session = session
        self._routing_key = routing_key
        self._url = url
        self._clock = clock
        self._retry = retry
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return "PagerDutyEvents(routing_key=<redacted>)"

    async def trigger(
        self,
        *,
        dedup_key: str,
        summary: str,
        source: str,
        severity: Severity,
        component: str = "",
        group: str = "",
        custom_details: Mapping[str, Any] | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> EventResult:
        """Open (or update) the PagerDuty alert for `dedup_key`. `links` are (href, text) pairs."""
        payload: dict[str, Any] = {
            "summary": summary[:MAX_SUMMARY_CHARS],
            "source": source,
            "severity": severity,
            "timestamp": self._clock.now().isoformat(),
        }
        if component:
            payload["component"] = component
        if group:
            payload["group"] = group
        if custom_details:
            payload["custom_details"] = dict(custom_details)
        event: dict[str, Any] = {"event_action": "trigger", "payload": payload, "client": "remediator"}
        if links:
            event["links"] = [{"href": href, "text": text} for href, text in links]
        return await self._send(event, dedup_key=dedup_key)

    async def resolve(self, *, dedup_key: str) -> EventResult:
        """Resolve the alert opened with `dedup_key` (PagerDuty drops it if none is open)."""
        return await self._send({"event_action": "resolve"}, dedup_key=dedup_key)

    async def _send(self, event: dict[str, Any], *, dedup_key: str) -> EventResult:
        key = clip_dedup_key(dedup_key)
        action = event["event_action"]
        body = {"routing_key": self._routing_key.reveal(), "dedup_key": key, **event}
        try:
            reply, attempts = await send_json_with_retries(
                self._session,
                "POST",
                self._url,
                what=f"pagerduty {action}",
                clock=self._clock,
                retry=self._retry,
                timeout_s=self._timeout_s,
                body=body,
                redact=(self._routing_key.reveal(),),
            )
        except RemediatorError as e:
            result = EventResult(status="failed", attempts=attempts_of(e), dedup_key=key, error=str(e))
        except Exception as e:  # never raise out of an escalation; no traceback: it could show the body
            error = f"pagerduty {action}: {type(e).__name__}: {e}"
            error = error.replace(self._routing_key.reveal(), "<redacted>")
            result = EventResult(status="failed", attempts=attempts_of(e), dedup_key=key, error=error)
        else:
            returned = reply.json.get("dedup_key") if isinstance(reply.json, dict) else None
            result = EventResult(
                status="accepted",
                attempts=attempts,
                dedup_key=returned if isinstance(returned, str) and returned else key,
            )
        if result.ok:
            log.info("pagerduty event accepted", action=action, dedup_key=key, attempts=result.attempts)
        else:
            log.warning(
                "pagerduty event failed",
                action=action,
                dedup_key=key,
                attempts=result.attempts,
                error=result.error,
            )
        return result
