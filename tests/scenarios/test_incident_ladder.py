"""One P1 incident in simulated time, in-process: escalation ladder, updates, resolution, watch, re-fire.

The restart does not clear the errors (not verified in 10m): the incident escalates and its P1
ladder pages primary at once and secondary 15 minutes later, while the channel gets the incident's
state every 30 minutes. An acknowledgement stops what is left of the ladder. The alert resolves: the
pages are resolved and the incident is watched for 30 minutes; a re-fire within the watch re-opens the
same incident and escalates, instead of restarting the Deployment again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.store.incidents import IncidentRecord
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import FIXTURES_NOW, am_alert, am_payload, auth

RULES = """
rules:
  - name: restart-checkout
    severity: P1
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
    verify: {resolved_within: 10m}
    updates: {every: 30m, channel: ops}
    watch: 30m
"""
PD_SECRET = "ladder-pagerduty-secret"
LADDER = [
    {"after": "0m", "page": "primary"},
    {"after": "15m", "page": "secondary"},
    {"after": "30m", "notify": "team-lead"},
    {"after": "1h", "notify": "eng-manager"},
]


class Outside:
    """PagerDuty's Events API and the chat channels, recording what remediator sends and when."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str, str]] = []
        self.dedup_keys: list[str] = []

    def minutes(self) -> float:
        return round((self.clock.now() - FIXTURES_NOW).total_seconds() / 60, 1)

    async def pagerduty(self, request: web.Request) -> web.Response:
        body = await request.json()
        pager = {"key-primary": "primary", "key-secondary": "secondary"}[body["routing_key"]]
        self.sent.append((self.minutes(), f"pagerduty:{pager}", body["event_action"]))
        self.dedup_keys.append(body["dedup_key"])
        return web.json_response({"status": "success"}, status=202)

    async def chat(self, request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        self.sent.append((self.minutes(), request.match_info["channel"], text.splitlines()[0]))
        return web.Response(text="ok")


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.yaml").write_text(textwrap.dedent(RULES))
    return d


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FIXTURES_NOW, autojump=False)


@pytest.fixture
async def outside(
    clock: FakeClock, aiohttp_server: Callable[..., Awaitable[TestServer]], monkeypatch: pytest.MonkeyPatch
) -> tuple[Outside, TestServer]:
    out = Outside(clock)
    app = web.Application()
    app.router.add_post("/v2/enqueue", out.pagerduty)
    app.router.add_post("/chat/{channel}", out.chat)
    server = await aiohttp_server(app)
    monkeypatch.setenv("TEST_ADMIN_TOKEN", "admin-token")
    monkeypatch.setenv("TEST_PD_WEBHOOK_SECRET", PD_SECRET)
    for name in ("primary", "secondary"):
        monkeypatch.setenv(f"TEST_PD_{name.upper()}", f"key-{name}")
    for channel in ("ops", "team-lead", "eng-manager"):
        monkeypatch.setenv(
            f"TEST_CHAT_{channel.replace('-', '_').upper()}", str(server.make_url(f"/chat/{channel}"))
        )
    return out, server


def daemon_settings(settings: Settings, server: TestServer) -> Settings:
    """The scenario's settings, with PagerDuty and the chat channels at the fake outside world."""
    data = settings.model_dump()
    data["pagerduty"] = {
        "webhook_secrets": [{"env": "TEST_PD_WEBHOOK_SECRET"}],
        "routing_key": None,
        "routing_keys": {n: {"env": f"TEST_PD_{n.upper()}"} for n in ("primary", "secondary")},
        "events_url": str(server.make_url("/v2/enqueue")),
    }
    data["notify"] = {
        "channels": {
            c: {"kind": "slack", "url": {"env": f"TEST_CHAT_{c.replace('-', '_').upper()}"}}
            for c in ("ops", "team-lead", "eng-manager")
        }
    }
    data["incidents"] = {"escalation": {"P1": LADDER}}
    data["auth"]["api_tokens"] = [{"name": "ana", "scope": "admin", "env": "TEST_ADMIN_TOKEN"}]
    data["guards"]["verify_poll_interval"] = 60.0
    return Settings.model_validate(data)


@pytest.fixture
async def daemon(
    settings: Settings, clock: FakeClock, outside: tuple[Outside, TestServer]
) -> AsyncIterator[Application]:
    _, server = outside
    async with open_app(daemon_settings(settings, server), clock=clock) as app:
        yield app


async def run(app: Application, clock: FakeClock, seconds: float) -> None:
    """Move simulated time a minute at a time (every timer here is due on a minute), letting whatever
    is due at each minute happen at that minute, however loaded the machine is."""
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        await clock.run(min(60.0, end - clock.monotonic()), quiet_s=0.2)
        await settle(app)


async def settle(app: Application) -> None:
    # Not app.drained(): an execution verifying sleeps on the clock until time moves on.
    for _ in range(500):
        await app.processor.drained()
        await asyncio.sleep(0.01)
        asleep = len(app.clock._pending()) - app.scheduler.waiting  # type: ignore[attr-defined]
        if asleep < app.runner.running():
            continue  # an execution woken at this minute has not reached its next sleep or its end
        await app.desk.idle()
        if not await app.scheduler.due_now():
            return
        app.scheduler.wake()
        await asyncio.sleep(0.01)
    raise AssertionError("timers still due after 5s of real time")


async def board(client: TestClient, path: str = "") -> Any:
    r = await client.get(f"/api/v1/incident-board{path}", headers=auth("admin-token"))
    assert r.status == 200, await r.text()
    return await r.json()


async def test_a_p1_incident_escalates_by_the_clock_is_watched_and_escalates_again_on_a_refire(
    daemon: Application,
    clock: FakeClock,
    outside: tuple[Outside, TestServer],
    fake_kube: FakeKubeServer,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _ = outside
    app = daemon
    client = await aiohttp_client(build_web_app(app.api_state()))
    firing = am_payload(am_alert(deployment="checkout"))
    assert (await client.post("/webhook/alertmanager", data=firing, headers=auth())).status == 202
    await app.processor.drained()
    await run(app, clock, 11 * 60)  # the restart is not verified after 10m: escalated, primary paged
    [incident] = [i for i in app.desk.live()]
    assert incident.state == "open" and incident.severity == "P1" and incident.escalated_at is not None
    await run(app, clock, 45 * 60)  # secondary at +15m, team lead at +30m; updates every 30m
    pages = [(t, to, what) for t, to, what in out.sent if to.startswith("pagerduty")]
    assert pages == [(10.0, "pagerduty:primary", "trigger"), (25.0, "pagerduty:secondary", "trigger")]
    assert [t for t, to, _ in out.sent if to == "team-lead"] == [40.0]
    assert [t for t, to, _ in out.sent if to == "ops"] == [30.0], "one update so far, 30m after it opened"
    # The restart happened once; the ladder goes on until someone acknowledges.
    restarts = [r for r in fake_kube.requests if r.method == "PATCH"]
    assert len(restarts) == 1
    resolved = am_payload(am_alert(deployment="checkout", status="resolved"))
    assert (await client.post("/webhook/alertmanager", data=resolved, headers=auth())).status == 202
    await app.processor.drained()
    await run(app, clock, 60)
    [watching] = app.desk.live()
    assert watching.state == "watching" and watching.id == incident.id
    resolves = [(to, what) for _, to, what in out.sent if what == "resolve"]
    assert sorted(resolves) == [("pagerduty:primary", "resolve"), ("pagerduty:secondary", "resolve")]
    assert any(to == "ops" and "RESOLVED" in what for _, to, what in out.sent)
    await run(app, clock, 10 * 60)
    refire = am_payload(am_alert(deployment="checkout", starts_at=clock.now()))
    assert (await client.post("/webhook/alertmanager", data=refire, headers=auth())).status == 202
    await app.processor.drained()
    await run(app, clock, 60)
    decisions = list(reversed(await app.journal.decisions()))
    assert decisions[-1]["outcome"] == "escalated" and "the fix did not hold" in decisions[-1]["reason"]
    assert len([r for r in fake_kube.requests if r.method == "PATCH"]) == 1, "not restarted again"
    [again] = app.desk.live()
    assert again.id == incident.id and again.state == "open" and again.reopened == 1
    assert [to for t, to, what in out.sent if what == "trigger"][-1] == "pagerduty:primary"
    detail = await board(client, f"/{incident.id}")
    kinds = [e["kind"] for e in detail["events"]]
    for expected in ("opened", "acting", "failed", "escalated", "paged", "update", "watching", "reopened"):
        assert expected in kinds, (expected, kinds)
    # A human acknowledges: the rest of the ladder stops.
    r = await client.post(
        f"/api/v1/incident-board/{incident.id}/acknowledge",
        json={"reason": "on it"},
        headers=auth("admin-token"),
    )
    assert r.status == 200, await r.text()
    before = len(out.sent)
    await run(app, clock, 20 * 60)
    assert not [s for s in out.sent[before:] if s[1].startswith("pagerduty")], (
        "no page after the acknowledgement"
    )
    assert timedelta(0) <= clock.now() - FIXTURES_NOW


def pagerduty_event(
    examples_dir: Path, *, event_type: str, incident_key: str
) -> tuple[bytes, dict[str, str]]:
    """PagerDuty's webhook for one of remediator's own pages (the captured one, re-keyed), signed."""
    body = json.loads((examples_dir / "pagerduty" / "incident-acknowledged.json").read_bytes())
    body["event"]["event_type"] = event_type
    body["event"]["data"]["incident_key"] = incident_key
    body["event"]["data"]["status"] = event_type.removeprefix("incident.")
    raw = json.dumps(body).encode()
    sig = hmac.new(PD_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-PagerDuty-Signature": f"v1={sig}", "Content-Type": "application/json"}


async def primary_paged(
    app: Application, client: TestClient, clock: FakeClock, out: Outside
) -> IncidentRecord:
    """A checkout alert fires and is not verified after 10 minutes: the primary is paged (minute 12)."""
    firing = am_payload(am_alert(deployment="checkout"))
    assert (await client.post("/webhook/alertmanager", data=firing, headers=auth())).status == 202
    await app.processor.drained()
    await run(app, clock, 12 * 60)
    assert [(t, to) for t, to, what in out.sent if what == "trigger"] == [(10.0, "pagerduty:primary")]
    [incident] = app.desk.live()
    return incident


async def answered_in_pagerduty(
    app: Application,
    client: TestClient,
    examples_dir: Path,
    *,
    incident_key: str,
    event_type: str = "incident.acknowledged",
) -> None:
    """Dana acknowledges (or resolves) a page in PagerDuty; PagerDuty tells remediator by webhook."""
    body, headers = pagerduty_event(examples_dir, event_type=event_type, incident_key=incident_key)
    r = await client.post("/webhook/pagerduty", data=body, headers=headers)
    assert r.status == 202, await r.text()
    await app.processor.drained()


@pytest.mark.parametrize("event_type", ["incident.acknowledged", "incident.resolved"])
async def test_acknowledging_or_resolving_the_page_in_pagerduty_stops_the_ladder(
    daemon: Application,
    clock: FakeClock,
    outside: tuple[Outside, TestServer],
    examples_dir: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    event_type: str,
) -> None:
    out, _ = outside
    app = daemon
    client = await aiohttp_client(build_web_app(app.api_state()))
    incident = await primary_paged(app, client, clock, out)
    await answered_in_pagerduty(
        app, client, examples_dir, incident_key=out.dedup_keys[0], event_type=event_type
    )
    await run(app, clock, 60 * 60)  # secondary (+15m), team lead (+30m), manager (+1h): none of them
    assert [to for _, to, what in out.sent if what == "trigger"] == ["pagerduty:primary"]
    assert not [to for _, to, _ in out.sent if to in ("team-lead", "eng-manager")]
    assert [t for t, to, _ in out.sent if to == "ops"] == [30.0, 60.0], "updates go on while it is open"
    detail = await board(client, f"/{incident.id}")
    assert detail["acknowledged_by"] == "Dana Ops", detail
    [ack] = [e for e in detail["events"] if e["kind"] == "acknowledged"]
    assert (
        ack["text"] == f"acknowledged by Dana Ops: PagerDuty incident {event_type.removeprefix('incident.')}"
    )
    timers = await client.get("/api/v1/timers", headers=auth("admin-token"))
    assert not [t for t in (await timers.json())["timers"] if t["kind"] == "incident_step"]


async def test_a_page_that_is_not_remediators_own_does_not_stop_the_ladder(
    daemon: Application,
    clock: FakeClock,
    outside: tuple[Outside, TestServer],
    examples_dir: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> None:
    out, _ = outside
    app = daemon
    client = await aiohttp_client(build_web_app(app.api_state()))
    await primary_paged(app, client, clock, out)
    await answered_in_pagerduty(app, client, examples_dir, incident_key="checkout-api/HighErrorRate")
    await run(app, clock, 15 * 60)
    assert [to for _, to, what in out.sent if what == "trigger"] == [
        "pagerduty:primary",
        "pagerduty:secondary",
    ]


async def test_an_acknowledgement_processed_just_before_a_crash_still_stops_the_ladder_after_it(
    settings: Settings,
    clock: FakeClock,
    outside: tuple[Outside, TestServer],
    examples_dir: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The acknowledgement's payload is processed, and the daemon dies before the desk saved the
    acknowledgement (its own task, after the payload was marked processed). After the restart, Dana
    must not be paged again, nor anyone after her."""
    out, server = outside
    configured = daemon_settings(settings, server)
    async with open_app(configured, clock=clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))
        incident = await primary_paged(app, client, clock, out)
        # The crash comes between the two steps: the desk's task that saves it never runs.
        monkeypatch.setattr(app.desk, "taken_in_pagerduty", lambda **_: None)
        await answered_in_pagerduty(app, client, examples_dir, incident_key=out.dedup_keys[0])
        assert app.journal.backlog() == 0, "its payload is processed"
        await client.close()
    async with open_app(configured, clock=clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))
        await run(app, clock, 60 * 60)  # secondary (+15m), team lead (+30m), manager (+1h): none of them
        assert [to for _, to, what in out.sent if what == "trigger"] == ["pagerduty:primary"]
        assert not [to for _, to, _ in out.sent if to in ("team-lead", "eng-manager")]
        detail = await board(client, f"/{incident.id}")
        assert detail["acknowledged_by"] == "Dana Ops", detail
        assert [e["kind"] for e in detail["events"]].count("acknowledged") == 1
    async with open_app(configured, clock=clock) as app:  # replayed once: a later start changes nothing
        [again] = [i for i in app.desk.live() if i.id == incident.id]
        assert again.acknowledged_by == "Dana Ops"
        assert [e.kind for e in await app.journal.incident_events(incident.id)].count("acknowledged") == 1


class IncidentWritesFail:
    """The journal's incident writes fail until simulated time reaches `until` (then recover)."""

    def __init__(self, app: Application, clock: FakeClock, *, for_s: float) -> None:
        self.real = app.journal.save_incidents
        self.clock = clock
        self.until = clock.monotonic() + for_s
        self.failed = 0

    async def save_incidents(self, changes: Any) -> None:
        if self.clock.monotonic() < self.until:
            self.failed += 1
            raise OSError("disk I/O error")
        await self.real(changes)


def ack_saves(app: Application, result: str) -> float:
    value = app.metrics.registry.get_sample_value(
        "remediator_pagerduty_acknowledgement_saves_total", {"result": result}
    )
    return value or 0.0


async def test_an_acknowledgement_whose_save_fails_is_saved_when_the_journal_recovers(
    daemon: Application,
    clock: FakeClock,
    outside: tuple[Outside, TestServer],
    examples_dir: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dana acknowledges the page at minute 12 while the journal's incident writes fail for 20
    minutes: nobody else is paged for it (secondary was due at minute 25), and once the journal
    recovers the acknowledgement is saved while running, not only at the next start."""
    out, _ = outside
    app = daemon
    client = await aiohttp_client(build_web_app(app.api_state()))
    incident = await primary_paged(app, client, clock, out)
    outage = IncidentWritesFail(app, clock, for_s=20 * 60)
    monkeypatch.setattr(app.journal, "save_incidents", outage.save_incidents)
    await answered_in_pagerduty(app, client, examples_dir, incident_key=out.dedup_keys[0])
    await run(app, clock, 15 * 60)  # minute 27: still failing
    assert app.desk.live()[0].acknowledged_at is None, "the journal is the truth: not saved yet"
    failed_while_down, saved_while_down = ack_saves(app, "failed"), ack_saves(app, "saved")
    await run(app, clock, 60 * 60)
    assert outage.failed > 0 and clock.monotonic() > outage.until
    [saved] = [i for i in app.desk.live() if i.id == incident.id]
    assert saved.acknowledged_by == "Dana Ops"
    # Saved within a minute of the recovery (the back-off is at most a minute), while running.
    assert saved.acknowledged_at is not None
    assert saved.acknowledged_at - (FIXTURES_NOW + timedelta(minutes=32)) <= timedelta(minutes=1)
    assert [to for _, to, what in out.sent if what == "trigger"] == ["pagerduty:primary"]
    assert not [to for _, to, _ in out.sent if to in ("team-lead", "eng-manager")]
    detail = await board(client, f"/{incident.id}")
    assert [e["kind"] for e in detail["events"]].count("acknowledged") == 1
    # Each failure counted while the journal was down (and logged); one save once it was back.
    assert failed_while_down >= 5 and saved_while_down == 0
    assert ack_saves(app, "saved") == 1 and ack_saves(app, "gave_up") == 0


async def test_an_acknowledgement_is_retried_for_a_bounded_time_then_left_to_the_replay(
    settings: Settings,
    clock: FakeClock,
    outside: tuple[Outside, TestServer],
    examples_dir: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The journal's incident writes fail for two hours: the retries stop after an hour (counted and
    logged), and the next start replays the acknowledgement from its journaled payload."""
    out, server = outside
    configured = daemon_settings(settings, server)
    async with open_app(configured, clock=clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))
        incident = await primary_paged(app, client, clock, out)
        outage = IncidentWritesFail(app, clock, for_s=2 * 3600)
        monkeypatch.setattr(app.journal, "save_incidents", outage.save_incidents)
        await answered_in_pagerduty(app, client, examples_dir, incident_key=out.dedup_keys[0])
        await run(app, clock, 90 * 60)
        assert ack_saves(app, "gave_up") == 1 and ack_saves(app, "saved") == 0
        # Doubling from 1s to a minute for an hour: bounded, not a tight loop.
        assert 60 <= ack_saves(app, "failed") <= 70
        await client.close()
    monkeypatch.undo()
    clock.advance(3600)  # the journal is back
    async with open_app(configured, clock=clock) as app:
        [again] = [i for i in app.desk.live() if i.id == incident.id]
        assert again.acknowledged_by == "Dana Ops"
