"""A remediator daemon in a subprocess, for restart scenarios: start it, talk to it, kill it.

Only what a restart test needs: the real `remediator serve` on 127.0.0.1, its webhooks and override
API over HTTP, and a stop by any signal (SIGKILL leaves the journal as a crash would). Also a small
HTTP sink that records what the daemon sends out (PagerDuty events, chat notifications).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.realbin import free_port, listening_port

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_TOKEN = "restart-webhook-token"
ADMIN_TOKEN = "restart-admin-token"
PD_SECRET = "restart-pagerduty-secret"
PD_ROUTING_KEY = "restart-routing-key-0123456789abcdef"


class Daemon:
    def __init__(self, config: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.log = log
        self.env = dict(env or {})
        self.port = 0
        self._log_from = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hook_url(self) -> str:
        """Where the webhooks are served (the intake process's address when it has one)."""
        return self.url

    async def start(self, timeout_s: float = 30.0) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("REMEDIATOR_", "KUBERNETES_", "PAGERDUTY_"))
        }
        env.update(
            {
                "REMEDIATOR_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
                "REMEDIATOR_ADMIN_TOKEN": ADMIN_TOKEN,
                "PAGERDUTY_WEBHOOK_SECRET": PD_SECRET,
                "PAGERDUTY_ROUTING_KEY": PD_ROUTING_KEY,
                "PYTHONPATH": str(REPO),
                **self.env,
            }
        )
        # Port 0: the kernel picks one at bind time and the "listening" log line names it; a port
        # picked free beforehand could be taken by a parallel test's daemon, whose /readyz would answer.
        self.port = 0
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        self.proc = self._spawn(env)
        await wait_until("the daemon to be ready", self._ready, timeout_s=timeout_s)

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "remediator", "serve", "--config", str(self.config)]
        return subprocess.Popen(
            [*args, "--listen", "127.0.0.1:0"],
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    async def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self.proc.returncode}; see {self.log}")
        if not self.port:
            self.port = listening_port(self.log, after=self._log_from) or 0
            if not self.port:
                return False
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{self.url}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    async def alert(self, *alerts: dict[str, Any], group_key: str = '{}:{alertname="x"}') -> None:
        body = {
            "version": "4",
            "groupKey": group_key,
            "status": alerts[0]["status"],
            "receiver": "remediator",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "",
            "truncatedAlerts": 0,
            "alerts": list(alerts),
        }
        headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{self.hook_url}/webhook/alertmanager", json=body, headers=headers) as r,
        ):
            assert r.status == 202, await r.text()

    async def pagerduty(self, body: bytes, *, delivery_id: str) -> dict[str, Any]:
        sig = hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-PagerDuty-Signature": f"v1={sig}",
            "X-Webhook-Id": delivery_id,
            "Content-Type": "application/json",
        }
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{self.hook_url}/webhook/pagerduty", data=body, headers=headers) as r,
        ):
            assert r.status == 202, await r.text()
            return dict(await r.json())

    async def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, f"{self.url}/api/v1{path}", json=body, headers=headers) as r,
        ):
            text = await r.text()
            assert r.status < 300, f"{method} {path}: {r.status} {text}"
            return json.loads(text)


async def wait_until(what: str, check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    """Poll `check` (sync or async) until it returns something true; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Sink:
    """Records every JSON body POSTed to it (PagerDuty's Events API, chat webhooks) and answers 202."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, await request.json()))
        return web.json_response({"status": "success", "message": "Event processed"}, status=202)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Sink]:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()

    def events(self, path: str = "/v2/enqueue") -> list[dict[str, Any]]:
        return [body for p, body in self.received if p == path]


SIGNALS = (signal.SIGTERM, signal.SIGKILL)
