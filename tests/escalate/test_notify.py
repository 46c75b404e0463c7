"""Notifications: safe rendering, template overrides, delivery and retries, no URL in logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from remediator.actions.retry import RetryPolicy
from remediator.clock import FakeClock
from remediator.config import NotifyChannel, NotifySettings, SecretRef
from remediator.errors import ConfigError
from remediator.escalate.notify import Channel, Notifier, NotifyResult, load_templates, resolve_channels
from remediator.secrets import Secret

POLICY = RetryPolicy(attempts=3, backoff_min_s=1.0, backoff_max_s=30.0, deadline_s=120.0)
SECRET_PATH = "/services/T000/B000/XXXXsecretXXXX"

INCIDENT = {
    "title": "checkout-api: HTTP 5xx above 10/min",
    "severity": "P1",
    "status": "Investigating: automatic rollback in progress",
    "started_at": "2026-11-22T21:04:11Z",
    "impact": "Checkout fails for about 8% of requests",
    "services": "checkout-api (shop)",
    "actions": "rollout_undo of Deployment shop/checkout-api",
    "next_update": "2026-11-22T21:20:00Z",
    "alert": "HighErrorRate",
    "rule": "rollback-on-5xx-after-deploy",
    "link": "https://remediator.example/executions/42",
}


@dataclass
class Reply:
    status: int
    text: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


class FakeChat:
    """An incoming-webhook receiver: records JSON bodies with the fake clock's time, answers from a script."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.script: list[Reply] = []
        self.bodies: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.times.append(self.clock.monotonic())
        reply = self.script.pop(0) if self.script else Reply(200)
        return web.Response(status=reply.status, text=reply.text, headers=reply.headers)

    def url(self, path: str = SECRET_PATH) -> str:
        return f"{self.base}{path}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 21, 5, tzinfo=UTC))


@pytest.fixture
async def chat(clock: FakeClock) -> AsyncIterator[FakeChat]:
    fake = FakeChat(clock)
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def notifier(
    session: aiohttp.ClientSession,
    clock: FakeClock,
    channels: dict[str, Channel],
    templates_dir: Path | None = None,
) -> Notifier:
    return Notifier(
        session=session, channels=channels, templates_dir=templates_dir, clock=clock, retry=POLICY
    )


# -- rendering ----------------------------------------------------------------------------------------


def test_incident_message_has_what_on_call_needs(session: aiohttp.ClientSession, clock: FakeClock) -> None:
    text = notifier(session, clock, {}).render("incident", INCIDENT)
    for expected in (
        "[P1] Incident: checkout-api: HTTP 5xx above 10/min",
        "Status: Investigating: automatic rollback in progress",
        "Impact: Checkout fails for about 8% of requests",
        "Services affected: checkout-api (shop)",
        "What is being done: rollout_undo of Deployment shop/checkout-api",
        "Next update: 2026-11-22T21:20:00Z",
        "rule rollback-on-5xx-after-deploy",
        "Details: https://remediator.example/executions/42",
    ):
        assert expected in text


def test_update_and_resolution_messages(session: aiohttp.ClientSession, clock: FakeClock) -> None:
    n = notifier(session, clock, {})
    update = n.render(
        "update",
        {
            "severity": "P1",
            "title": "t",
            "status": "Monitoring",
            "actions_tried": "rollout_undo",
            "current_state": "5xx back under 1/min",
            "next_update": "21:35Z",
        },
    )
    assert "Status: Monitoring" in update and "What was tried: rollout_undo" in update
    assert "Current state: 5xx back under 1/min" in update and "Next update: 21:35Z" in update
    resolution = n.render(
        "resolution",
        {
            "title": "t",
            "duration": "14m51s",
            "root_cause": "bad deploy checkout:v2",
            "actions": "rolled back to checkout:v1",
            "follow_ups": "fix the v2 migration",
        },
    )
    assert resolution.startswith("[RESOLVED] t")
    for expected in (
        "Duration: 14m51s",
        "Root cause (as known): bad deploy checkout:v2",
        "What was done: rolled back to checkout:v1",
        "Follow-ups: fix the v2 migration",
    ):
        assert expected in resolution


def test_missing_context_renders_na(session: aiohttp.ClientSession, clock: FakeClock) -> None:
    text = notifier(session, clock, {}).render("incident", {"title": "t"})
    assert "Impact: n/a" in text and "Next update: n/a" in text and "$" not in text


def test_rendering_never_evaluates_context_values(session: aiohttp.ClientSession, clock: FakeClock) -> None:
    hostile = "$severity ${impact} {title.__class__.__mro__} {{ config }} %(x)s"
    text = notifier(session, clock, {}).render("incident", {**INCIDENT, "title": hostile})
    assert f"Incident: {hostile}" in text, "values are inserted verbatim, never substituted again"


# -- overrides ----------------------------------------------------------------------------------------


def test_templates_dir_overrides_a_shipped_template_by_file_name(
    session: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "incident.txt").write_text(
        ":rotating_light: $severity $title -> next update $next_update ($$5 budget)\n"
    )
    n = notifier(session, clock, {}, templates_dir=tmp_path)
    assert n.render("incident", INCIDENT) == (
        ":rotating_light: P1 checkout-api: HTTP 5xx above 10/min"
        " -> next update 2026-11-22T21:20:00Z ($5 budget)\n"
    )
    assert n.render("update", {"status": "Monitoring"}).startswith("[n/a] Update:"), "others stay shipped"


@pytest.mark.parametrize("text", ["cost: $5\n", "${title.__class__}\n", "${}\n"])
def test_an_override_with_an_invalid_placeholder_fails_at_start_up(
    session: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path, text: str
) -> None:
    (tmp_path / "update.txt").write_text(text)
    with pytest.raises(ConfigError, match=r"update\.txt: invalid placeholder"):
        notifier(session, clock, {}, templates_dir=tmp_path)


def test_templates_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        load_templates(tmp_path / "nope")


def test_the_shipped_templates_are_package_data() -> None:
    assert set(load_templates(None)) == {"incident", "update", "resolution", "approval"}


# -- delivery -----------------------------------------------------------------------------------------


async def test_slack_gets_text_with_values_escaped(
    session: aiohttp.ClientSession, clock: FakeClock, chat: FakeChat
) -> None:
    n = notifier(session, clock, {"ops": Channel("slack", Secret(chat.url()))})
    result = await n.send("ops", "incident", {**INCIDENT, "impact": "<!channel> & <http://evil|click>"})
    assert result == NotifyResult(status="sent", attempts=1, channel="ops", template="incident")
    [body] = chat.bodies
    assert set(body) == {"text"}
    assert "Services affected: checkout-api (shop)" in body["text"]
    assert "Impact: &lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in body["text"]


async def test_webhook_gets_template_text_and_context(
    session: aiohttp.ClientSession, clock: FakeClock, chat: FakeChat
) -> None:
    n = notifier(session, clock, {"audit": Channel("webhook", Secret(chat.url("/hook")))})
    result = await n.send("audit", "resolution", {"title": "t", "duration": "3m"})
    assert result.ok
    [body] = chat.bodies
    assert body["template"] == "resolution"
    assert body["context"] == {"title": "t", "duration": "3m"}
    assert "Duration: 3m" in body["text"]


async def test_500_is_retried_with_backoff(
    session: aiohttp.ClientSession, clock: FakeClock, chat: FakeChat
) -> None:
    chat.script = [Reply(500, "internal_error"), Reply(429, "rate_limited", {"Retry-After": "4"})]
    n = notifier(session, clock, {"ops": Channel("slack", Secret(chat.url()))})
    result = await n.send("ops", "update", {"status": "Monitoring"})
    assert result.status == "sent" and result.attempts == 3
    assert len(chat.bodies) == 3 and chat.bodies[0] == chat.bodies[2]
    first, second = (b - a for a, b in zip(chat.times, chat.times[1:], strict=False))
    assert 1.0 <= first <= 2.0 and second == pytest.approx(4.0)


async def test_404_fails_at_once(session: aiohttp.ClientSession, clock: FakeClock, chat: FakeChat) -> None:
    chat.script = [Reply(404, "no_service")]
    result = await notifier(session, clock, {"ops": Channel("slack", Secret(chat.url()))}).send(
        "ops", "incident", INCIDENT
    )
    assert result.status == "failed" and result.attempts == 1
    assert result.error == "notify 'ops': HTTP 404: no_service"


async def test_unknown_channel_fails_without_a_request(
    session: aiohttp.ClientSession, clock: FakeClock, chat: FakeChat
) -> None:
    result = await notifier(session, clock, {}).send("nope", "incident", INCIDENT)
    assert result.status == "failed" and result.attempts == 0 and "not configured" in result.error
    assert chat.bodies == []


async def test_the_channel_url_never_reaches_logs_or_errors(
    session: aiohttp.ClientSession,
    clock: FakeClock,
    chat: FakeChat,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    chat.script = [Reply(503, f"upstream {SECRET_PATH} down"), Reply(400, f"bad hook {chat.url()}")]
    channels = {
        "ops": Channel("slack", Secret(chat.url())),
        "gone": Channel("webhook", Secret(f"http://127.0.0.1:1{SECRET_PATH}")),
        "bad": Channel("webhook", Secret(f"http://[::1{SECRET_PATH}")),
    }
    n = notifier(session, clock, channels)
    with structlog.testing.capture_logs() as captured:
        results = [await n.send(name, "incident", INCIDENT) for name in channels]
    out, err = capsys.readouterr()
    ours = [
        r.getMessage() for r in caplog.records if not r.name.startswith(("aiohttp.access", "aiohttp.server"))
    ]
    logged = "\n".join(
        [repr(captured), *ours, out, err, *(r.error for r in results), repr(n), repr(channels)]
    )
    assert [r.status for r in results] == ["failed"] * 3
    assert results[2].attempts == 1 and "not a valid http(s) URL" in results[2].error, (
        "no retry for a bad URL"
    )
    assert "notification failed" in logged and "http call retrying" in logged
    assert "XXXXsecretXXXX" not in logged


def test_resolve_channels_skips_unset_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.slack.example/services/T/B/secret")
    monkeypatch.delenv("TEST_UNSET_URL", raising=False)
    settings = NotifySettings(
        channels={
            "ops": NotifyChannel(kind="slack", url=SecretRef(env="TEST_SLACK_URL")),
            "off": NotifyChannel(kind="webhook", url=SecretRef(env="TEST_UNSET_URL")),
        }
    )
    channels = resolve_channels(settings)
    assert channels == {"ops": Channel("slack", Secret("https://hooks.slack.example/services/T/B/secret"))}
    assert "secret" not in repr(channels)
