"""A daemon with an intake process (`intake.processes: 1`), in subprocesses, as deployed.

Both processes listen on port 0; each names its port in its "listening" log line (the intake
process's carries `process: intake`), and a restarted intake process logs a new one.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.realbin import listening_port
from tests.scenarios.daemon import WEBHOOK_TOKEN, Daemon, wait_until

RULES = """
rules:
  - name: restart-on-auth-failures
    match: ['alertname = "AuthFailures"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
"""


class IntakeDaemon(Daemon):
    """`remediator serve` and its intake process; webhooks go to the intake process."""

    intake_port = 0

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}"

    async def start(self, timeout_s: float = 30.0) -> None:
        self.intake_port = 0
        await super().start(timeout_s)
        await self.intake_listening(after=self._log_from)

    async def intake_listening(self, *, after: int) -> int:
        """The intake process's port, from the first "listening" line it logged after byte `after`."""
        self.intake_port = await wait_until(
            "the intake process to listen",
            lambda: listening_port(self.log, after=after, process="intake"),
            timeout_s=30,
        )
        return self.intake_port

    def log_lines(self, *, after: int = 0) -> list[dict[str, Any]]:
        with self.log.open("rb") as f:
            f.seek(after)
            text = f.read().decode(errors="replace")
        lines = []
        for line in text.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def intake_pid(self, *, after: int = 0) -> int:
        started = [e for e in self.log_lines(after=after) if e.get("event") == "intake process started"]
        return int(started[-1]["pid"])

    def log_size(self) -> int:
        return self.log.stat().st_size

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}/readyz") as r:
            return r.status, dict(await r.json())

    async def post_alert(self, session: aiohttp.ClientSession, n: int) -> int | None:
        """One alert (deployment `d<n>`) to the intake process: its payload id if acknowledged."""
        body = {
            "version": "4",
            "groupKey": f"g{n}",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "AuthFailures", "namespace": "shop", "deployment": f"d{n}"},
                    "annotations": {},
                    "startsAt": datetime.now(UTC).isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                }
            ],
        }
        headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        try:
            async with session.post(f"{self.hook_url}/webhook/alertmanager", json=body, headers=headers) as r:
                if r.status != 202:
                    return None
                return int((await r.json())["payload_id"])
        except (aiohttp.ClientError, OSError):
            return None


def write_config(tmp_path: Path, *, extra: str = "") -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "r.yaml").write_text(textwrap.dedent(RULES))
    config = tmp_path / "remediator.yaml"
    config.write_text(
        f"journal: {{path: {tmp_path / 'journal.sqlite'}}}\n"
        "kubernetes: {mode: none}\n"
        "intake: {processes: 1, listen: '127.0.0.1:0', restart_backoff: 0.2s}\n"
        f"rules: [{rules}]\n" + extra
    )
    return config


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[IntakeDaemon]:
    d = IntakeDaemon(write_config(tmp_path), tmp_path / "daemon.log")
    await d.start()
    try:
        yield d
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.stop()
