"""Fault injection of the fake API server: failures, delays and held requests a test asks for.

The bugs that matter in remediation live in how a client meets a failing server: a 429 with
Retry-After, a 5xx, a proxy's HTML error page, a write that lands although its answer is lost, a
request held until its client gave up. `FakeKubeServer.inject` describes one such failure; this
module keeps the list, finds the fault a request meets and words its answer, so the server's
request handling only asks "which fault, if any?" and "what does it answer?".
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from remediator.testing import _errors


@dataclass(slots=True, kw_only=True)
class Fault:
    """An injected failure: the next `times` matching requests get `status` after `delay` seconds."""

    status: int
    method: str | None
    path: str | None
    times: int
    retry_after: float | None
    delay: float
    body: str | None
    after_write: bool = False
    """Handle the request (the write lands), then answer with the fault: a response lost on the way."""
    hold: asyncio.Event | None = None
    """Keep the request waiting until this is set, then go on: a write that lands after its client
    gave up (a starved API server), in an order the test chooses rather than a race against time."""
    hits: int = 0

    @property
    def remaining(self) -> int:
        return self.times - self.hits

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


class Faults:
    """The injected faults, in the order they were injected: the first matching one wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        *,
        status: int,
        method: str | None,
        path: str | None,
        times: int,
        retry_after: float | None,
        delay: float,
        body: str | None,
        after_write: bool,
        hold: asyncio.Event | None,
    ) -> Fault:
        """Check and keep one fault (see `FakeKubeServer.inject` for what each argument means)."""
        if status != 0 and not 400 <= status <= 599:
            raise ValueError(f"inject: status {status!r} must be 0 (delay only) or an HTTP error code")
        if times < 1:
            raise ValueError(f"inject: times {times!r} must be at least 1")
        if after_write and status == 0:
            raise ValueError("inject: after_write needs an error status to answer with")
        if status == 0 and delay <= 0 and hold is None:
            raise ValueError(
                "inject: status=0 means 'answer normally after `delay` or `hold`', so give one of them"
            )
        fault = Fault(
            status=status,
            method=method,
            path=path,
            times=times,
            retry_after=retry_after,
            delay=delay,
            body=body,
            after_write=after_write,
            hold=hold,
        )
        self._faults.append(fault)
        return fault

    def hit(self, method: str, path: str) -> Fault | None:
        """The first fault this request meets, counted as hit; None when it meets none."""
        fault = next((f for f in self._faults if f.matches(method, path)), None)
        if fault is not None:
            fault.hits += 1
        return fault

    def clear(self) -> None:
        self._faults.clear()


def fault_response(fault: Fault) -> web.Response:
    """The answer to a faulted request: a Status worded as the real server words that code, or
    the test's `body` verbatim (JSON or text, as it parses)."""
    error = _errors.injected(fault.status, retry_after=fault.retry_after)
    if fault.body is None:
        return json_response(error.status(), fault.status, error.headers)
    try:
        json.loads(fault.body)
        content_type = "application/json"
    except ValueError:
        content_type = "text/plain"
    return web.Response(
        status=fault.status, text=fault.body, content_type=content_type, headers=error.headers
    )


def json_response(body: Any, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer as the API server sends it."""
    # body= rather than text=, so the Content-Type is exactly application/json, as the API server sends it.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=dict(headers or {}),
    )
