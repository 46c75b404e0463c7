"""Three daemon processes on one PostgreSQL journal and one (fake) cluster, as three pods would be.

`python -m remediator serve` three times, each on its own port, all with `journal.url` pointing at
the same database. What only separate processes show: a storm spread over the three, one alert at
two replicas at the same instant, SIGKILL of the replica holding an action in flight, and a rolling
restart under load. Never an action applied twice, never a 2xx'd alert lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from remediator.testing.fake_kube import FakeKubeServer
from tests.pgserver import PASSWORD_ENV, PgCluster
from tests.realbin import listening_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "replica-test-token"
TARGETS = 8
RULES = """
rules:
  - name: restart-on-auth-failures
    match: ['alertname = "AuthFailures"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
    guards: {cooldown: 15m}
"""
CONFIG = """
journal:
  url: {url}
  password: {{env: {password_env}}}
  lease: {lease}s
kubernetes: {{mode: kubeconfig, kubeconfig: {kubeconfig}, call_timeout: {call_timeout}s}}
guards:
  max_actions_global: null
  storm_brake: null
  max_actions_per_rule: null
  max_in_flight: 100
  max_in_flight_per_namespace: 100
rules: [{rules}]
"""


@dataclass
class Replica:
    name: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    """The port it listens on, from its log once it does (each start binds a new one: port 0)."""
    log_from: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fleet:
    """The daemons, their config and the database they share."""

    config: Path
    db_url: str
    password: str
    replicas: list[Replica] = field(default_factory=list)

    def start(self, r: Replica) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "KUBERNETES_"))}
        env.update({"REMEDIATOR_WEBHOOK_TOKEN": TOKEN, "PYTHONPATH": str(REPO), "POD_NAME": r.name})
        env[PASSWORD_ENV] = self.password
        r.port = 0
        r.log_from = r.log.stat().st_size if r.log.exists() else 0
        r.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "remediator",
                "serve",
                "--config",
                str(self.config),
                "--listen",
                "127.0.0.1:0",
            ],
            env=env,
            stdout=r.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def stop(self, r: Replica, sig: int = signal.SIGTERM) -> None:
        if r.process is not None and r.process.poll() is None:
            r.process.send_signal(sig)
            try:
                r.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                r.process.kill()
                r.process.wait(timeout=10)

    async def ready(self, r: Replica, session: aiohttp.ClientSession, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert r.process is not None and r.process.poll() is None, f"{r.name} exited:\n{tail(r.log)}"
            if not r.port:
                r.port = listening_port(r.log, after=r.log_from) or 0
                if not r.port:
                    await asyncio.sleep(0.1)
                    continue
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{r.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{r.name} not ready within {timeout_s}s:\n{tail(r.log)}")

    async def rows(self, sql: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.db_url, password=self.password)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    async def settled(self, *, payloads: int, timeout_s: float = 90) -> None:
        """`payloads` accepted, all decided, nothing deferred, no execution pending or running anywhere."""
        deadline = time.monotonic() + timeout_s
        row: Any = None
        while time.monotonic() < deadline:
            [row] = await self.rows(
                "SELECT (SELECT count(*) FROM payloads),"
                " (SELECT count(*) FROM payloads WHERE processed_at IS NULL),"
                " (SELECT count(*) FROM executions WHERE status IN ('pending', 'running')),"
                " (SELECT count(*) FROM deferrals WHERE status = 'waiting')"
            )
            if row[0] >= payloads and row[1] == 0 and row[2] == 0 and row[3] == 0:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"not settled: (payloads, unprocessed, unfinished, deferred) = {tuple(row)}")


def tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def alert_body(deployment: str, *, starts_at: datetime, name: str = "AuthFailures") -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": name, "namespace": "shop", "deployment": deployment},
        "annotations": {"value": "3"},
        "startsAt": starts_at.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return json.dumps({"version": "4", "groupKey": "g", "status": "firing", "alerts": [alert]}).encode()


async def post(session: aiohttp.ClientSession, r: Replica, body: bytes) -> int:
    async with session.post(
        f"{r.url}/webhook/alertmanager",
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=aiohttp.ClientTimeout(total=15),
    ) as resp:
        return resp.status


def patches(kube: FakeKubeServer) -> list[str]:
    return sorted(r.path for r in kube.requests if r.method == "PATCH")


@contextlib.asynccontextmanager
async def fleet(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str, *, n: int = 3, lease_s: float = 15.0
) -> AsyncIterator[tuple[Fleet, FakeKubeServer, aiohttp.ClientSession]]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(RULES)
    async with FakeKubeServer() as kube, aiohttp.ClientSession() as session:
        kube.add_namespace("shop")
        for i in range(TARGETS):
            kube.add_deployment("shop", f"svc-{i}", image="svc:v1")
        config = tmp_path / "remediator.yaml"
        config.write_text(
            CONFIG.format(
                url=pg_url,
                password_env=PASSWORD_ENV,
                lease=lease_s,
                call_timeout=lease_s - 1,  # the lease must outlive a call (config check)
                kubeconfig=kube.write_kubeconfig(tmp_path / "kc"),
                rules=rules,
            )
        )
        f = Fleet(config=config, db_url=pg_url, password=pg_cluster.password)
        f.replicas = [Replica(f"replica-{i}", tmp_path / f"replica-{i}.log") for i in range(n)]
        try:
            for r in f.replicas:
                f.start(r)
            for r in f.replicas:
                await f.ready(r, session)
            yield f, kube, session
        finally:
            await asyncio.gather(*(asyncio.to_thread(f.stop, r) for r in f.replicas))


async def test_a_storm_round_robin_acts_once_per_target_and_journals_every_alert_once(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    async with fleet(tmp_path, pg_cluster, pg_url) as (f, kube, session):
        now = datetime.now(UTC)
        # every alert three times (Alertmanager's retries and HA pair), each copy to another replica
        bodies = [alert_body(f"svc-{i}", starts_at=now) for i in range(TARGETS) for _ in range(3)]
        codes = await asyncio.gather(
            *(post(session, f.replicas[k % 3], body) for k, body in enumerate(bodies))
        )
        assert set(codes) == {202}
        await f.settled(payloads=len(bodies))
        [counts] = await f.rows(
            "SELECT (SELECT count(*) FROM payloads), (SELECT count(*) FROM alerts),"
            " (SELECT count(*) FROM decisions WHERE outcome = 'act'),"
            " (SELECT count(*) FROM decisions WHERE outcome = 'duplicate'),"
            " (SELECT count(*) FROM executions WHERE status = 'succeeded')"
        )
    assert patches(kube) == sorted(
        f"/apis/apps/v1/namespaces/shop/deployments/svc-{i}" for i in range(TARGETS)
    )
    assert tuple(counts) == (3 * TARGETS, 3 * TARGETS, TARGETS, 2 * TARGETS, TARGETS)


async def test_one_alert_at_two_replicas_at_the_same_instant_acts_once(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    async with fleet(tmp_path, pg_cluster, pg_url, n=2) as (f, kube, session):
        body = alert_body("svc-1", starts_at=datetime.now(UTC))
        codes = await asyncio.gather(post(session, f.replicas[0], body), post(session, f.replicas[1], body))
        assert codes == [202, 202]
        await f.settled(payloads=2)
        outcomes = sorted(r[0] for r in await f.rows("SELECT outcome FROM decisions"))
    assert patches(kube) == ["/apis/apps/v1/namespaces/shop/deployments/svc-1"]
    assert outcomes == ["act", "duplicate"]


async def test_sigkill_of_the_replica_holding_an_action_never_applies_it_twice(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    async with fleet(tmp_path, pg_cluster, pg_url, lease_s=5.0) as (f, kube, session):
        kube.inject(status=0, method="PATCH", delay=8.0)  # the restart hangs in flight past the lease
        assert await post(session, f.replicas[0], alert_body("svc-2", starts_at=datetime.now(UTC))) == 202
        deadline = time.monotonic() + 60
        while not any(r.method == "PATCH" for r in kube.requests):
            assert time.monotonic() < deadline, "the PATCH never reached the API server"
            await asyncio.sleep(0.05)
        [(owner,)] = await f.rows("SELECT owner FROM executions WHERE status = 'running'")
        [holder] = [r for r in f.replicas if owner.startswith(r.name + "-")]
        f.stop(holder, signal.SIGKILL)
        kube.clear_faults()
        # another replica takes over once the dead one's lease (5s) has run out, and decides again
        deadline = time.monotonic() + 60
        while True:
            again = await f.rows(
                "SELECT outcome, reason FROM decisions WHERE reason LIKE 're-evaluated after%'"
            )
            if again:
                break
            assert time.monotonic() < deadline, "nobody took over the interrupted execution"
            await asyncio.sleep(0.2)
        await asyncio.sleep(9)  # the interrupted PATCH finishes at the API server meanwhile
        [interrupted] = await f.rows("SELECT status, error FROM executions ORDER BY id LIMIT 1")
        executions = len(await f.rows("SELECT 1 FROM executions"))
    assert patches(kube) == ["/apis/apps/v1/namespaces/shop/deployments/svc-2"], "applied once, never twice"
    assert interrupted[0] == "interrupted" and holder.name in interrupted[1] and "running" in interrupted[1]
    [(outcome, reason)] = again
    assert outcome in ("duplicate", "cooldown"), reason  # a running execution may have changed the cluster
    assert executions == 1


async def test_a_rolling_restart_under_load_loses_no_acknowledged_alert(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    acked: list[str] = []
    refused = 0
    async with fleet(tmp_path, pg_cluster, pg_url) as (f, _kube, session):
        stop = asyncio.Event()

        numbers = itertools.count()

        async def load() -> None:
            nonlocal refused
            while not stop.is_set():
                k = next(numbers)
                r = f.replicas[k % len(f.replicas)]
                name = f"load-{k}"
                body = alert_body(name, starts_at=datetime.now(UTC), name="Unrouted")
                try:
                    if await post(session, r, body) == 202:
                        acked.append(name)
                    else:
                        refused += 1
                except (aiohttp.ClientError, TimeoutError):
                    refused += 1  # a sender retries these; only a 2xx is a promise
                await asyncio.sleep(0.01)

        senders = [asyncio.create_task(load()) for _ in range(3)]
        try:
            for r in f.replicas:  # one at a time, the others keep taking webhooks
                await asyncio.to_thread(f.stop, r, signal.SIGTERM)
                f.start(r)
                await f.ready(r, session)
        finally:
            stop.set()
            await asyncio.gather(*senders)
        await f.settled(payloads=len(acked))
        journaled = [r[0] for r in await f.rows("SELECT labels::jsonb ->> 'deployment' FROM alerts")]
    assert len(acked) > 50, f"too little load to say anything ({len(acked)} acknowledged, {refused} refused)"
    missing = set(acked) - set(journaled)
    assert not missing, f"{len(missing)} acknowledged alerts were never journaled"
    assert len(journaled) == len(set(journaled)), "an alert journaled twice"
