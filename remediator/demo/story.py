"""Plays the sample incidents against the running daemon and narrates them as they happen.

Alerts go in over HTTP through the daemon's own Alertmanager webhook, as Alertmanager would send
them. Between steps the story waits until the engine has nothing left to do at the current time;
when all that is left is asleep on the clock (verification windows, retry backoff), it jumps the
clock to the next wake-up, as `remediator test` does, so a 10-minute verification window passes
in a moment and its outcome lands at the simulated time it would in production.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from remediator.app import Application
from remediator.demo import kdiff
from remediator.demo.checks import CHECKS, Evidence
from remediator.demo.clock import DemoClock
from remediator.demo.incidents import INCIDENTS, SampleAlert
from remediator.demo.narrator import Narrator
from remediator.demo.shop import NAMESPACE
from remediator.store import readmodel
from remediator.testing import FakeKubeServer

_SETTLE_TIMEOUT_S = 30.0
"""Real seconds the engine may take to finish one step before the demo calls it stuck."""
_POLL_S = 0.005
_YIELDS = 5
_RUN_OUT_HORIZON_S = 3 * 3600.0
"""Simulated time the story waits, after the last incident, for every execution to end."""
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


class StoryStuck(RuntimeError):
    """The engine did not settle: a bug worth reporting, never a reason to hang."""


@dataclass(kw_only=True)
class Story:
    app: Application
    clock: DemoClock
    kube: FakeKubeServer
    evidence: Evidence
    narrator: Narrator
    session: aiohttp.ClientSession
    webhook_url: str
    webhook_token: str
    _t0: float = 0.0
    _labels: dict[str, str] = field(default_factory=dict)
    """incident id -> where (namespace/deployment), for the narration."""
    _seen: set[tuple[Any, ...]] = field(default_factory=set)
    _resolutions: list[tuple[float, int, SampleAlert, datetime]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _snapshot: kdiff.Snapshot | None = None

    # -- the story ---------------------------------------------------------------------------------

    async def play(self) -> bool:
        """Fire every sample incident, run until every execution ended, print the checks; True if all hold."""
        self._t0 = self.clock.monotonic()
        self.narrator.start = self.clock.now()
        self._snapshot = kdiff.snapshot(self.kube, NAMESPACE)
        total = len(INCIDENTS)
        for n, incident in enumerate(INCIDENTS, 1):
            await self._advance_to(incident.at_s)
            alerts = incident.alerts(self.kube)
            first = alerts[0]
            more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
            self.narrator.heading(
                f"{n}/{total}  {incident.title}: {first.labels['alertname']} on {first.where}{more}"
            )
            self.narrator.say(f"  runbook: {incident.runbook}", "dim")
            starts = self.clock.now()
            for a in alerts:
                incident_id = readmodel.incident_id(a.fingerprint, starts.timestamp())
                self._labels[incident_id] = a.where
                workload = a.labels.get("deployment") or a.labels.get("service", "")
                self.evidence.incidents[(a.labels["alertname"], workload)] = incident_id
                if a.labels["alertname"] == "PodOOMKilled":
                    self.evidence.oom_pod = a.labels.get("pod", "")
                if a.resolves_after_s is not None:
                    due = self._elapsed() + a.resolves_after_s
                    heapq.heappush(self._resolutions, (due, next(self._seq), a, starts))
            await self._send(alerts, status="firing", starts=starts)
            await self._settle_and_tell()
        await self._advance_to(max((r[0] for r in self._resolutions), default=self._elapsed()))
        finished = await self._run_out()
        return await self._summary(finished)

    async def _summary(self, finished: bool) -> bool:
        self.narrator.heading("what the demo expected")
        ok = finished
        if not finished:
            self.narrator.say("  FAILED  executions still running after the run-out horizon", "red")
        for what, check in CHECKS:
            problem = await check(self.evidence)
            if problem is None:
                self.narrator.say(f"  ok      {what}", "green")
            else:
                ok = False
                self.narrator.say(f"  FAILED  {what}: {problem}", "red")
        passed = sum(1 for _ in CHECKS)
        self.narrator.say()
        if ok:
            self.narrator.say(f"every expected step happened ({passed} checks).", "bold", "green")
        else:
            self.narrator.say("some expected steps did not happen (see FAILED above).", "bold", "red")
        return ok

    # -- alerts in -----------------------------------------------------------------------------------

    async def _send(self, alerts: tuple[SampleAlert, ...], *, status: str, starts: datetime) -> None:
        now = self.clock.now()
        first = alerts[0]
        body = {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{first.labels["alertname"]}", namespace="{NAMESPACE}"}}',
            "status": status,
            "receiver": "remediator",
            "groupLabels": {"alertname": first.labels["alertname"], "namespace": NAMESPACE},
            "commonLabels": {"alertname": first.labels["alertname"], "namespace": NAMESPACE},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.demo:9093",
            "truncatedAlerts": 0,
            "alerts": [
                {
                    "status": status,
                    "labels": dict(a.labels),
                    "annotations": dict(a.annotations),
                    "startsAt": _rfc3339(starts),
                    "endsAt": _rfc3339(now) if status == "resolved" else _GO_ZERO_TIME,
                    "generatorURL": "",
                    "fingerprint": a.fingerprint,
                }
                for a in alerts
            ],
        }
        async with self.session.post(
            self.webhook_url,
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {self.webhook_token}", "Content-Type": "application/json"},
        ) as response:
            if not 200 <= response.status < 300:
                raise StoryStuck(f"the webhook answered {response.status}: {await response.text()}")

    # -- time ------------------------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return self.clock.monotonic() - self._t0

    async def _advance_to(self, at_s: float) -> None:
        """Move the story to `at_s`, resolving due alerts on the way and telling what happens."""
        await self._settle_and_tell()
        while True:
            due = self._resolutions[0][0] if self._resolutions else None
            stop = at_s if due is None else min(due, at_s)
            await self._advance(stop - self._elapsed())
            if due is not None and due <= self._elapsed() + 1e-6:
                _, _, alert, starts = heapq.heappop(self._resolutions)
                await self._send((alert,), status="resolved", starts=starts)
                await self._settle_and_tell()
                continue
            if self._elapsed() >= at_s - 1e-6:
                return

    async def _advance(self, seconds: float) -> None:
        """Jump `seconds` ahead, stopping at every wake-up on the way so each sleeper sees its time."""
        end = self.clock.monotonic() + max(seconds, 0.0)
        while True:
            wake = self.clock.next_deadline()
            step_to = end if wake is None else min(wake, end)
            self.clock.advance(step_to - self.clock.monotonic())
            await self._settle_and_tell()
            if self.clock.monotonic() >= end:
                return

    async def _run_out(self) -> bool:
        """Jump from wake-up to wake-up until every execution ended (False: the horizon came first)."""
        horizon = self.clock.monotonic() + _RUN_OUT_HORIZON_S
        while not await self._settle_and_tell():
            wake = self.clock.next_deadline()
            if wake is None or wake > horizon:
                return False
            self.clock.advance(wake - self.clock.monotonic())
        return True

    async def _settle(self) -> bool:
        """Wait until the engine has nothing left to do now. True: all decided and every execution
        ended; False: what runs is asleep on the clock, waiting for time to move."""
        app = self.app
        try:
            async with asyncio.timeout(_SETTLE_TIMEOUT_S):
                while True:
                    await app.processor.drained(_SETTLE_TIMEOUT_S)
                    for _ in range(_YIELDS):  # let tasks just woken run up to their next await
                        await asyncio.sleep(0)
                    if app.journal.backlog():
                        continue
                    running = app.runner.running()
                    if running == 0:
                        await app.drained(_SETTLE_TIMEOUT_S)
                        if app.runner.running() == 0 and not app.journal.backlog():
                            return True
                    elif self.clock.sleeping >= running:
                        return False
                    else:
                        await asyncio.sleep(_POLL_S)  # an API call or a journal write is on its way
        except TimeoutError:
            raise StoryStuck(
                f"the engine did not settle within {_SETTLE_TIMEOUT_S:g}s of real time "
                f"({app.runner.running()} executions running, backlog {app.journal.backlog()})"
            ) from None

    # -- telling -----------------------------------------------------------------------------------------

    async def _settle_and_tell(self) -> bool:
        settled = await self._settle()
        await self._tell()
        return settled

    async def _tell(self) -> None:
        """Print the timeline events not printed yet, in time order, then the cluster's diff."""
        fresh: list[tuple[str, int, str, dict[str, Any]]] = []
        for order, (incident_id, where) in enumerate(self._labels.items()):
            timeline = await self.evidence.journal.incident_timeline(incident_id)
            for e in timeline["events"] if timeline else []:
                key = _event_key(e)
                if key in self._seen:
                    continue
                self._seen.add(key)
                fresh.append((e["at"] or "", order, where, e))
        for _, _, where, e in sorted(fresh, key=lambda f: (f[0], f[1])):
            self.narrator.event(where, e)
        after = kdiff.snapshot(self.kube, NAMESPACE)
        if self._snapshot is not None:
            self.narrator.cluster(kdiff.diff(self._snapshot, after, NAMESPACE))
        self._snapshot = after


def _event_key(e: dict[str, Any]) -> tuple[Any, ...]:
    kind = e["type"]
    if kind == "alert":
        return (kind, e["alert_id"])
    if kind == "decision":
        return (kind, e["decision_id"])
    if kind == "execution":
        return (kind, e["execution_id"], e["status"])
    if kind == "evidence":
        return (kind, e["evidence_id"])
    return (kind, e["escalation_id"], e["status"])


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
