"""Crash mid-action: SIGKILL the daemon while an action is running, start it again.

The execution shows as interrupted, the guards decide again (a running execution may
have changed the cluster, so it holds the cooldown), and the action is not applied twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from remediator.model import ExecutionStatus
from remediator.store.sqlite import SqliteJournal
from remediator.testing.fake_kube import FakeKubeServer
from tests.realbin import listening_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "crash-test-token"
RULES = """
rules:
  - name: restart-on-auth-failures
    match: ['alertname = "AuthFailures"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    guards: {cooldown: 15m}
"""


def spawn_daemon(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The daemon on port 0, and where its log of this start begins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "KUBERNETES_"))}
    env.update({"REMEDIATOR_WEBHOOK_TOKEN": TOKEN, "PYTHONPATH": str(REPO)})
    after = log.stat().st_size if log.exists() else 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return proc, after


async def start_daemon(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The daemon and the port it bound, from its "listening" log line: a port picked free
    beforehand can be taken by a parallel test's daemon, whose /readyz would then answer for ours."""
    proc, after = await asyncio.to_thread(spawn_daemon, config, log)
    deadline = time.monotonic() + 60
    while not (port := await asyncio.to_thread(listening_port, log, after=after)):
        assert proc.poll() is None, f"the daemon exited with {proc.returncode}; see {log}"
        assert time.monotonic() < deadline, "the daemon did not start listening"
        await asyncio.sleep(0.05)
    return proc, port


async def wait_until(what: str, check: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    # In a thread: a check may ask the daemon, whose /readyz asks the fake API server on this loop.
    while not await asyncio.to_thread(check):  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def post_alert(port: int) -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "AuthFailures", "namespace": "shop", "deployment": "search"},
        "annotations": {"value": "3"},
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
    }
    body = json.dumps({"version": "4", "groupKey": "g", "status": "firing", "alerts": [alert]}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook/alertmanager",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 202


async def test_sigkill_mid_action_then_restart_never_applies_twice(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(textwrap.dedent(RULES))
    journal = tmp_path / "journal.sqlite"
    log = tmp_path / "daemon.log"
    async with FakeKubeServer() as kube:
        kube.add_deployment("shop", "search", image="search:v1")
        config = tmp_path / "remediator.yaml"
        kubeconfig = kube.write_kubeconfig(tmp_path / "kc")
        config.write_text(
            f"journal: {{path: {journal}}}\n"
            f"kubernetes: {{mode: kubeconfig, kubeconfig: {kubeconfig}, call_timeout: 30s}}\n"
            f"rules: [{rules}]\n"
        )
        kube.inject(status=0, method="PATCH", delay=3.0)  # the restart hangs in flight
        daemon, port = await start_daemon(config, log)
        try:
            await wait_until("the daemon to be ready", lambda: healthy(port))
            post_alert(port)
            await wait_until(
                "the PATCH to be in flight", lambda: any(r.method == "PATCH" for r in kube.requests)
            )
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=10)
        finally:
            if daemon.poll() is None:
                daemon.kill()
        kube.clear_faults()

        daemon, port = await start_daemon(config, log)
        try:
            await wait_until("the restarted daemon to be ready", lambda: healthy(port))
            await asyncio.sleep(3.5)  # the interrupted request finishes at the API server meanwhile
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=20)
        patches = [r for r in kube.requests if r.method == "PATCH"]
        assert len(patches) == 1, "the restart reached the API server once, never twice"

    async with SqliteJournal.open(journal) as j:
        [interrupted] = [e for e in await j.executions() if e.status is ExecutionStatus.INTERRUPTED]
        assert interrupted.started_at is not None and "running" in (interrupted.error or "")
        decisions = await j.decisions()
        again = [
            d for d in decisions if d["reason"].startswith(f"re-evaluated after execution #{interrupted.id}")
        ]
        assert len(again) == 1, [d["reason"] for d in decisions]
        assert again[0]["outcome"] == "cooldown", (
            "a running execution may have changed the cluster: no replay"
        )
        assert "interrupted while running" in again[0]["reason"]
        assert await j.count("executions") == 1
