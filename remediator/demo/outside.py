"""The demo's outside world: a PagerDuty Events API and a chat webhook, in-process on 127.0.0.1.

Escalations in the demo really leave the daemon: they go over HTTP through the production
PagerDuty and Slack clients to these receivers, which answer as the real services do (202 with
the dedup key; `ok`) and keep what they got, so the demo can show who was paged and why.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One PagerDuty event as received."""

    action: str
    dedup_key: str
    severity: str
    summary: str


@dataclass(slots=True)
class OutsideWorld:
    pages: list[Page] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    """Chat messages (their text) posted to the `ops` channel."""
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def pagerduty_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    @property
    def chat_url(self) -> str:
        return f"{self.url}/chat/ops"

    async def __aenter__(self) -> OutsideWorld:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._pagerduty)
        app.router.add_post("/chat/ops", self._chat)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _pagerduty(self, request: web.Request) -> web.Response:
        try:
            event: dict[str, Any] = json.loads(await request.read())
        except ValueError:
            return web.json_response({"status": "invalid event", "message": "not JSON"}, status=400)
        payload = event.get("payload") or {}
        page = Page(
            action=str(event.get("event_action", "")),
            dedup_key=str(event.get("dedup_key", "")),
            severity=str(payload.get("severity", "")),
            summary=str(payload.get("summary", "")),
        )
        self.pages.append(page)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": page.dedup_key}, status=202
        )

    async def _chat(self, request: web.Request) -> web.Response:
        try:
            message: dict[str, Any] = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        self.messages.append(str(message.get("text", "")))
        return web.Response(text="ok")
