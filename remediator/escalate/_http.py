"""One JSON-over-HTTP call with the retry mapping shared by the PagerDuty, silence and notify clients.

The status decides what the caller should do, as in `errors`: 2xx (or a status the caller declares
fine, like 404 on a DELETE) returns the reply; 429, 5xx, timeouts and connection errors raise
`TransientActionError` (with the server's Retry-After, which `call_with_retries` honours); any other
status raises `PermanentActionError`, because the same request will get the same answer.

These clients talk to URLs and bodies that embed secrets (a Slack webhook URL, a PagerDuty routing key),
so no message built here contains the URL, and every string in `redact` is masked in the response
excerpts and exception texts that do make it into messages and logs.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from remediator.actions.retry import RetryPolicy, call_with_retries
from remediator.clock import Clock
from remediator.errors import PermanentActionError, TransientActionError
from remediator.logs import get_logger

log = get_logger("remediator.actions")

_MAX_READ_BYTES = 64 * 1024
"""Enough for any error body these APIs send; a misbehaving server cannot make us buffer more."""
_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    status: int
    text: str
    json: Any
    """The body parsed as JSON, or None when it is not JSON."""


def _redactor(url: str, redact: Sequence[str]) -> Callable[[str], str]:
    """Masks the URL, its path (incoming-webhook URLs carry their secret there, and servers echo
    paths in errors) and every string in `redact`."""
    parts: list[str] = [url, *redact]
    try:
        parsed = URL(url)
        parts.append(str(parsed))
        if len(parsed.raw_path_qs) > 1:
            parts.append(parsed.raw_path_qs)
            parts.append(parsed.path_qs)
    except (ValueError, TypeError):
        pass
    secrets = sorted({s for s in parts if s}, key=len, reverse=True)

    def clean(text: str) -> str:
        for s in secrets:
            text = text.replace(s, "<redacted>")
        return text

    return clean


def retry_after_s(value: str | None, *, clock: Clock) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (then measured from `clock.now()`)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - clock.now()).total_seconds(), 0.0)


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < _MAX_READ_BYTES:
        chunk = await resp.content.read(_MAX_READ_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _excerpt(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= _EXCERPT_CHARS else one_line[: _EXCERPT_CHARS - 1] + "…"


async def send_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    clock: Clock,
    timeout_s: float,
    body: Any = None,
    redact: Sequence[str] = (),
    also_fine: Callable[[HttpReply], bool] | None = None,
) -> HttpReply:
    """One request; raises Transient/PermanentActionError as the module docstring says.

    `what` names the call in messages ("pagerduty trigger", "notify 'ops'"); `also_fine` accepts
    non-2xx replies the caller treats as success.
    """
    clean = _redactor(url, redact)
    try:
        async with asyncio.timeout(timeout_s):
            async with session.request(
                method, url, json=body, headers={"Accept": "application/json"}, allow_redirects=False
            ) as resp:
                raw = await _read_capped(resp)
                status = resp.status
                retry_after = retry_after_s(resp.headers.get("Retry-After"), clock=clock)
    except TimeoutError:
        raise TransientActionError(f"{what}: no answer within {timeout_s:g}s") from None
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
        # The exception's text is the URL itself: name the problem, never the value.
        raise PermanentActionError(f"{what}: the configured URL is not a valid http(s) URL") from None
    except (aiohttp.ClientError, OSError) as e:
        raise TransientActionError(f"{what}: {type(e).__name__}: {clean(str(e))}") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    reply = HttpReply(status=status, text=text, json=parsed)
    if 200 <= status < 300 or (also_fine is not None and also_fine(reply)):
        return reply
    detail = f": {clean(_excerpt(text))}" if text.strip() else ""
    message = f"{what}: HTTP {status}{detail}"
    if status == 429 or status >= 500:
        raise TransientActionError(message, retry_after_s=retry_after)
    raise PermanentActionError(message)


async def send_json_with_retries(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    clock: Clock,
    retry: RetryPolicy,
    timeout_s: float,
    body: Any = None,
    redact: Sequence[str] = (),
    also_fine: Callable[[HttpReply], bool] | None = None,
) -> tuple[HttpReply, int]:
    """`send_json` under `call_with_retries`: (reply, attempts). The final error has `.attempts` set."""

    def on_retry(attempt: int, exc: BaseException, sleep_s: float) -> None:
        # The message was built by send_json: no URL, secrets masked.
        log.info("http call retrying", call=what, attempt=attempt, error=str(exc), sleep_s=round(sleep_s, 3))

    async def once() -> HttpReply:
        return await send_json(
            session,
            method,
            url,
            what=what,
            clock=clock,
            timeout_s=timeout_s,
            body=body,
            redact=redact,
            also_fine=also_fine,
        )

    return await call_with_retries(once, policy=retry, clock=clock, on_retry=on_retry)
