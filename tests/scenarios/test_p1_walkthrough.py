"""One P1 incident, start to end, in simulated time, with the daemon SIGKILLed in the middle (issue #11).

`remediator serve` runs as a process against the fake cluster; its clock is a file this test writes
(`REMEDIATOR_TEST_CLOCK_FILE`), so time moves a minute at a time, only when the test says, and goes on
where it was after the restart. Pages go to a PagerDuty stand-in, messages to chat stand-ins; both
record the simulated minute they arrived.

    0   search is being restarted and verified: the namespace's one slot is taken.
        HighErrorRate on checkout (P1): deferred, the incident opens.
    5   search verified: the slot frees, checkout is restarted.
    15  not verified (10m): escalated, primary paged.
    20  SIGKILL; restarted. The board, the timers and the deferred work are read with `remediator ctl`.
    30  secondary paged (+15m), the 30-minute update.
    45  team lead told (+30m).
    50  the alert resolves: both pages resolved, the channel told, the incident watched.
    55  it fires again within the watch: re-opened and escalated (primary paged), not restarted again.

Nothing is lost (every step after the restart happens), repeated (one restart each, one page per step,
every timer fired once) or forgotten (the deferral, the pages and the watch outlive the process).
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sqlite3
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from remediator import ctl
from remediator.clock import TEST_CLOCK_ENV, FileClock, write_clock_file
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.daemon import ADMIN_TOKEN, Daemon, Sink, wait_until

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = """
rules:
  - name: restart-search
    severity: P3
    match: ['alertname = "SearchSlow"']
    target: {kind: Deployment, namespace: shop, name: search}
    actions: [rollout_restart]
    verify: {resolved_within: 30m}
  - name: restart-checkout
    severity: P1
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: shop, name: checkout}
    actions: [rollout_restart]
    verify: {resolved_within: 10m}
    updates: {every: 30m, channel: ops}
    watch: 30m
"""
CHANNELS = ("ops", "team-lead", "eng-manager")


class Outside(Sink):
    """PagerDuty's Events API and the chat webhooks: what arrived, and at which simulated minute."""

    def __init__(self, clock: FileClock) -> None:
        super().__init__()
        self.clock = clock
        self.log: list[tuple[float, str, str]] = []

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        minute = (self.clock.now() - T0).total_seconds() / 60
        if request.path == "/v2/enqueue":
            pager = {"key-primary": "primary", "key-secondary": "secondary"}[body["routing_key"]]
            self.log.append((minute, f"page {pager}", body["event_action"]))
        else:
            self.log.append((minute, request.path.removeprefix("/chat/"), body["text"].splitlines()[0]))
        self.received.append((request.path, body))
        return web.json_response({"status": "success"}, status=202)

    def pages(self) -> list[tuple[float, str, str]]:
        return [e for e in self.log if e[1].startswith("page ")]

    def said(self, channel: str) -> list[tuple[float, str]]:
        return [(t, text) for t, to, text in self.log if to == channel]


class World:
    """The test's side: the clock file, the fake cluster, the outside services and the daemon."""

    def __init__(self, tmp: Path, kube: FakeKubeServer, outside: Outside, daemon: Daemon) -> None:
        self.tmp = tmp
        self.kube = kube
        self.outside = outside
        self.daemon = daemon
        self.minute = 0
        self.clock_file = tmp / "clock"
        self.journal = tmp / "journal.sqlite"

    def at(self, minute: float) -> datetime:
        return T0 + timedelta(minutes=minute)

    async def to(self, minute: float, *, expect: dict[float, Any] | None = None) -> None:
        """Move simulated time on a minute at a time up to `minute`. At each minute, wait until what
        is due then has happened (`expect[m]`, then no timer due and unfinished), so nothing slips to
        a later minute however loaded the machine is."""
        while self.minute < minute:
            step = min(self.minute + 1, minute)
            write_clock_file(self.clock_file, self.at(step))
            self.minute = step
            await asyncio.sleep(0.05)  # sleepers on the clock see it (they poll every 10ms)
            try:
                if expect and step in expect:
                    await wait_until(f"what is due at minute {step}", expect[step], timeout_s=30)
                await wait_until(f"the timers due by minute {step}", self._timers_done, timeout_s=30)
            except AssertionError as e:
                raise AssertionError(f"{e}; sent so far: {self.outside.log}; see {self.daemon.log}") from None

    async def _timers_done(self) -> bool:
        pending = (await self.daemon.api("GET", "/timers?limit=500"))["timers"]
        now = self.at(self.minute)
        return all(datetime.fromisoformat(t["due_at"]) > now for t in pending)

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True) as db:
            return list(db.execute(sql, args))

    def decisions(self, rule: str) -> list[tuple[float, str, str]]:
        start = T0.timestamp()
        return [
            (round((float(at) - start) / 60, 1), outcome, reason)
            for at, outcome, reason in self.rows(
                "SELECT decided_at, outcome, reason FROM decisions WHERE rule = ? ORDER BY id", rule
            )
        ]

    def restarts(self, name: str) -> int:
        return sum(
            1 for r in self.kube.requests if r.method == "PATCH" and r.path.endswith(f"/deployments/{name}")
        )

    async def alert(self, name: str, status: str = "firing", *, starts: float = 0) -> None:
        deployment = "checkout" if name == "HighErrorRate" else "search"
        body = {
            "status": status,
            "labels": {"alertname": name, "namespace": "shop", "deployment": deployment},
            "annotations": {"summary": f"{name} on shop/{deployment}"},
            "startsAt": self.at(starts).isoformat(),
            "endsAt": self.at(self.minute).isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "",
        }
        await self.daemon.alert(body, group_key=f'{{}}:{{alertname="{name}"}}')

    async def ctl(self, *argv: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        env = {"REMEDIATOR_URL": self.daemon.url, "REMEDIATOR_TOKEN": ADMIN_TOKEN}
        code = await asyncio.to_thread(ctl.main, list(argv), out=out, err=err, environ=env)
        assert code == 0, err.getvalue()
        return out.getvalue()


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock_file = tmp_path / "clock"
    write_clock_file(clock_file, T0)
    clock = FileClock(clock_file)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(textwrap.dedent(RULES))
    async with FakeKubeServer(clock=clock.now) as kube, Outside(clock).running() as outside:
        assert isinstance(outside, Outside)
        for name in ("checkout", "search"):
            kube.add_deployment("shop", name, image=f"{name}:v1", replicas=2)
        channels = ", ".join(
            f"{c}: {{kind: slack, url: {{env: CHAT_{c.replace('-', '_').upper()}}}}}" for c in CHANNELS
        )
        config = tmp_path / "remediator.yaml"
        config.write_text(
            f"journal: {{path: {tmp_path / 'journal.sqlite'}}}\n"
            f"kubernetes: {{mode: kubeconfig, kubeconfig: {kube.write_kubeconfig(tmp_path / 'kc')}}}\n"
            "guards: {max_in_flight_per_namespace: 1, verify_poll_interval: 60s, retry: {attempts: 1}}\n"
            # The deferral is decided again when the slot frees, not on a 30 s cadence that lands on
            # the same minute (which of the two runs first would be up to the machine's load).
            "deferral: {retry_every: 2h}\n"
            "pagerduty:\n"
            f"  events_url: {outside.url}/v2/enqueue\n"
            "  routing_keys: {primary: {env: PD_PRIMARY}, secondary: {env: PD_SECONDARY}}\n"
            f"notify: {{channels: {{{channels}}}}}\n"
            "incidents:\n"
            "  escalation:\n"
            "    P1: [{after: 0m, page: primary}, {after: 15m, page: secondary},\n"
            "         {after: 30m, notify: team-lead}, {after: 1h, notify: eng-manager}]\n"
            "auth: {api_tokens: [{name: ana, scope: admin, env: REMEDIATOR_ADMIN_TOKEN}]}\n"
            f"rules: [{rules}]\n"
        )
        env = {
            TEST_CLOCK_ENV: str(clock_file),
            "PD_PRIMARY": "key-primary",
            "PD_SECONDARY": "key-secondary",
            **{f"CHAT_{c.replace('-', '_').upper()}": f"{outside.url}/chat/{c}" for c in CHANNELS},
        }
        daemon = Daemon(config, tmp_path / "daemon.log", env=env)
        w = World(tmp_path, kube, outside, daemon)
        await daemon.start(timeout_s=60)  # a loaded machine's start-up
        try:
            yield w
        finally:
            daemon.stop(signal.SIGTERM)


async def test_a_p1_incident_walks_through_deferral_ladder_updates_watch_and_refire_across_a_sigkill(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        out = w.outside
        # 0: search is restarted and verifying (the slot is taken); checkout's P1 alert waits.
        await w.alert("SearchSlow")
        await wait_until("search restarted", lambda: w.restarts("search") == 1)
        await w.alert("HighErrorRate")
        await wait_until("checkout deferred", lambda: w.decisions("restart-checkout"))
        [(at, outcome, reason)] = w.decisions("restart-checkout")
        assert (at, outcome) == (0, "deferred") and "namespace" in reason, reason
        deferred = await w.ctl("deferred")
        assert "restart-checkout" in deferred and "1 waiting" in deferred, deferred
        # 4:30: search's alert resolves; at 5 its verification sees it, the slot frees, checkout acts.
        await w.to(4)
        w.minute = 4.5
        write_clock_file(w.clock_file, w.at(4.5))
        await w.alert("SearchSlow", "resolved")
        await wait_until("the resolution decided", lambda: len(w.decisions("restart-search")) == 2)
        await w.to(5, expect={5: lambda: w.restarts("checkout") == 1})
        assert [(t, o) for t, o, _ in w.decisions("restart-checkout")] == [(0, "deferred"), (5, "act")]
        # 15: not verified 10m after the restart: escalated, primary paged.
        await w.to(20, expect={15: lambda: out.pages()})
        assert out.pages() == [(15, "page primary", "trigger")]
        board = await w.ctl("board")
        assert "P1" in board and "open" in board and "page secondary at" in board, board

        # 20: SIGKILL, and start again where simulated time is.
        w.daemon.stop(signal.SIGKILL)
        await w.daemon.start(timeout_s=60)
        timers = await w.ctl("timers")
        assert "incident_step" in timers and "incident_update" in timers, timers
        [incident] = json.loads(await w.ctl("board", "-o", "json"))["incidents"]
        assert (incident["severity"], incident["state"]) == ("P1", "open")
        assert [s["fired"] for s in incident["ladder"]] == [True, False, False, False]
        redecided = await w.ctl("deferred", "--status", "redecided")
        assert "restart-checkout" in redecided, redecided

        # 30: secondary paged and the update; 45: the team lead.
        await w.to(
            49,
            expect={
                30: lambda: len(out.pages()) == 2 and out.said("ops"),
                45: lambda: out.said("team-lead"),
            },
        )
        # 50: resolved: the pages are resolved, the channel told, the incident watched.
        await w.to(50)
        await w.alert("HighErrorRate", "resolved")
        await wait_until("the pages resolved", lambda: len(out.pages()) == 4)
        [watching] = json.loads(await w.ctl("board", "-o", "json"))["incidents"]
        assert watching["state"] == "watching" and watching["id"] == incident["id"]
        # 55: it fires again within the watch: re-opened and escalated, not restarted again.
        await w.to(55)
        await w.alert("HighErrorRate", starts=55)
        await wait_until("the re-fire escalated", lambda: len(out.pages()) == 5)
        await w.to(57)
        await asyncio.sleep(0.5)  # anything repeated would have arrived by now
        [again] = json.loads(await w.ctl("board", "-o", "json"))["incidents"]

    assert (again["id"], again["state"], again["reopened"]) == (incident["id"], "open", 1)
    assert out.pages()[:2] == [(15, "page primary", "trigger"), (30, "page secondary", "trigger")]
    assert sorted(out.pages()[2:4]) == [(50, "page primary", "resolve"), (50, "page secondary", "resolve")]
    assert out.pages()[4:] == [(55, "page primary", "trigger")]
    assert [t for t, _ in out.said("team-lead")] == [45], "each ladder step once"
    assert out.said("eng-manager") == [], "acknowledged by nobody, but the 1h step was never due"
    ops = out.said("ops")
    assert [t for t, text in ops if "RESOLVED" not in text] == [30], ops
    assert [t for t, text in ops if "RESOLVED" in text] == [50], ops
    [update] = [
        body["text"] for path, body in out.received if path == "/chat/ops" and "Update" in body["text"]
    ]
    assert "rollout_restart on shop/Deployment/checkout" in update and "not verified" in update, update
    assert w.restarts("checkout") == 1 and w.restarts("search") == 1, "no action repeated"
    outcomes = [(t, o) for t, o, _ in w.decisions("restart-checkout")]
    assert outcomes[:2] == [(0, "deferred"), (5, "act")] and outcomes[-1] == (55, "escalated"), outcomes
    fired = w.rows(
        "SELECT kind, key, due_at, COUNT(*) FROM timers GROUP BY kind, key, due_at HAVING COUNT(*) > 1"
    )
    assert fired == [], "every timer scheduled once"
    steps = [r for (r,) in w.rows("SELECT result FROM timers WHERE kind = 'incident_step' ORDER BY id")]
    assert [(r or "pending").split(":")[0] for r in steps] == [
        "step 1",  # primary, 15
        "step 2",  # secondary, 30 (after the SIGKILL: fired once, not lost)
        "step 3",  # team lead, 45
        "cancelled",  # the manager's (1h) step: the incident resolved first
        "step 1",  # primary again, 55: the re-fire within the watch
        "pending",  # secondary again at 70: the ladder goes on
    ], steps
