"""Hostile input on every endpoint: a few hundred malformed, huge, deep, oddly encoded and badly
authenticated requests. The daemon answers each with a 4xx (never a 5xx), stays up, and its log,
captured with the real logging set-up at debug level, holds none of the configured secrets.

Every secret the daemon can be configured with is set: the webhook token, both API tokens, the
PagerDuty signing secret and routing key, and a notification URL that carries its token in the path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import hmac
import io
import json
import logging
import sqlite3
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.api.proxy import Proxy
from remediator.api.routes import PREFIX, ROUTES
from remediator.api.server import make_runner
from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import (
    IntakeSettings,
    NotifyChannel,
    NotifySettings,
    PagerDutySettings,
    SecretRef,
    Settings,
)
from remediator.intake.child import build_intake_app
from remediator.logs import configure_logging
from remediator.metrics import IntakeMetrics
from tests.api.conftest import ADMIN, READER, TOKEN, am_alert, am_payload
from tests.api.console_client import FORM, Console

PD_SECRET = "pd-signing-secret-5f1e0c2b9a"
ROUTING_KEY = "R0UTINGKEY0123456789abcdef0123"
NOTIFY_TOKEN = "T00000/B00000/XXXXslackhooksecretXXXX"
SECRETS = (TOKEN, ADMIN, READER, PD_SECRET, ROUTING_KEY, NOTIFY_TOKEN)

JSON = {"Content-Type": "application/json"}
HOOK = {"Authorization": f"Bearer {TOKEN}", **JSON}
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}

DEEP = b"[" * 20_000 + b"]" * 20_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
BAD_BODIES: dict[str, bytes] = {
    "empty": b"",
    "malformed": b'{"version": "4", "alerts": [',
    "not an object": b'["a", 1, null]',
    "a string": b'"hello"',
    "deep array": DEEP,
    "deep object": DEEP_OBJECT,
    "deep inside a valid shape": b'{"version": "4", "groupKey": "g", "status": "firing", "alerts": '
    + DEEP
    + b"}",
    "invalid utf-8": b'{"reason": "\xff\xfe\xfd"}',
    "lone surrogate": b'{"reason": "\\ud800", "version": "4"}',
    "nul bytes": b'{"reason": "a\x00b"}\x00',
    "huge number": b'{"reason": 1e999999, "limit": 123456789012345678901234567890}',
    "long string": b'{"reason": "' + b"x" * 500_000 + b'"}',
    "bom": b'\xef\xbb\xbf{"reason": "x"}',
    "too large": b"[" + b"1," * 600_000 + b"1]",
}
TIMES = (
    "0001-01-01T00:00:00+01:00",  # year 0 once in UTC
    "9999-12-31T23:59:59-01:00",  # year 10000 once in UTC
    "2026-02-30T00:00:00Z",  # no such day
    "2026-13-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "2026-11-23T00:00:00",  # no offset
    "NaN",
)


@dataclass
class Sent:
    label: str
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Harness:
    client: TestClient
    app: Application
    answers: list[Sent] = field(default_factory=list)

    async def send(self, label: str, method: str, path: str, **kw: Any) -> Sent:
        resp = await self.client.request(method, path, allow_redirects=False, **kw)
        text = await resp.text(errors="replace")
        sent = Sent(
            label=f"{method} {path[:80]} [{label}]", status=resp.status, body=text, headers=dict(resp.headers)
        )
        self.answers.append(sent)
        return sent

    async def raw(self, label: str, request: bytes) -> Sent:
        """Bytes the aiohttp client would refuse to send: bad header characters, broken framing."""
        server = self.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(request)
            await writer.drain()
            async with asyncio.timeout(10):
                head = await reader.readline()
                await reader.read(4096)
        except (ConnectionError, TimeoutError):
            head = b""
        finally:
            writer.close()
        parts = head.split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        sent = Sent(label=f"raw [{label}]", status=status, body=head.decode("latin-1"))
        self.answers.append(sent)
        return sent


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """The daemon's own logging set-up (JSON lines), at debug level so library lines show too."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture
def hostile_settings(api_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every secret the daemon can hold, set."""
    monkeypatch.setenv("TEST_PD_SECRET", PD_SECRET)
    monkeypatch.setenv("TEST_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("TEST_NOTIFY_URL", f"http://127.0.0.1:9/services/{NOTIFY_TOKEN}")
    return api_settings.model_copy(
        update={
            "pagerduty": PagerDutySettings(
                webhook_secrets=(SecretRef(env="TEST_PD_SECRET"),),
                routing_key=SecretRef(env="TEST_ROUTING_KEY"),
                events_url="http://127.0.0.1:9/v2/enqueue",
            ),
            "notify": NotifySettings(
                channels={"ops": NotifyChannel(kind="slack", url=SecretRef(env="TEST_NOTIFY_URL"))}
            ),
        }
    )


@pytest.fixture
async def hostile(
    hostile_settings: Settings,
    api_clock: FakeClock,
    captured_log: io.StringIO,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> AsyncIterator[Harness]:
    async with open_app(hostile_settings, clock=api_clock) as app:
        client = await aiohttp_client(build_web_app(app.api_state()))
        yield Harness(client=client, app=app)


@pytest.fixture
async def hostile_front(
    hostile_settings: Settings,
    api_clock: FakeClock,
    captured_log: io.StringIO,
    tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> AsyncIterator[Harness]:
    """The same daemon as one port serves it (intake/front.py), both apps in this process: the main
    app behind the front on a Unix socket, the front answering webhooks and passing the rest."""
    settings = hostile_settings.model_copy(update={"intake": IntakeSettings(processes=1)})
    socket = tmp_path / "main.sock"
    async with open_app(settings, clock=api_clock) as app:
        state = dataclasses.replace(app.api_state(), webhooks=False)
        runner = make_runner(state, behind_front=True)
        await runner.setup()
        await web.UnixSite(runner, str(socket)).start()
        try:
            http = settings.http
            async with Proxy(
                socket_path=socket, max_body_bytes=http.max_body_bytes, timeout_s=http.handler_timeout + 5
            ) as proxy:
                hooks = dataclasses.replace(state.webhook_state(), metrics=IntakeMetrics(), queue_depth=None)
                client = await aiohttp_client(build_intake_app(hooks, proxy=proxy))
                yield Harness(client=client, app=app)
        finally:
            await runner.cleanup()


def signed(body: bytes) -> dict[str, str]:
    sig = hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1={sig}", **JSON}


CONSOLE_ROUTES = (
    ("GET", "/ui"),
    ("GET", "/ui/"),
    ("GET", "/ui/login"),
    ("POST", "/ui/login"),
    ("POST", "/ui/logout"),
    ("GET", "/ui/incidents"),
    ("GET", "/ui/incidents/{id}"),
    ("GET", "/ui/incidents/{id}/postmortem.md"),
    ("GET", "/ui/approvals"),
    ("POST", "/ui/approvals/{id}/approve"),
    ("POST", "/ui/approvals/{id}/reject"),
    ("GET", "/ui/decisions"),
    ("GET", "/ui/controls"),
    ("POST", "/ui/pause"),
    ("POST", "/ui/resume"),
    ("POST", "/ui/dry-run"),
    ("POST", "/ui/breakers/reset"),
    ("GET", "/ui/audit"),
    ("GET", "/ui/static/console.css"),
    ("GET", "/ui/static/console.js"),
)
"""The console's routes (remediator/api/console/routes.py), as the hostile run sends them."""
OTHER_ROUTES = (
    ("POST", "/webhook/alertmanager"),
    ("POST", "/webhook/pagerduty"),
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", PREFIX + "/openapi.json"),
)
JUNK_SEGMENTS = ("..%2F..%2Fetc%2Fpasswd", "%00", "x" * 2000, "%F0%9F%92%A5", "-1", "99999999999999999999")


def _templates() -> list[tuple[str, str]]:
    """Every route the hostile run covers, as registered (path parameters as `{name}`)."""
    api = [(route.method, PREFIX + route.path) for route in ROUTES]
    return [*OTHER_ROUTES, *api, *CONSOLE_ROUTES]


def _paths() -> list[tuple[str, str]]:
    """Every route, its path parameters filled with something hostile."""
    out: list[tuple[str, str]] = []
    for method, path in _templates():
        if "{" not in path:
            out.append((method, path))
            continue
        for j in JUNK_SEGMENTS:
            out.append((method, path.replace("{name}", j).replace("{id}", j).replace("{key}", j)))
    return out


async def _every_endpoint_with_bad_auth_and_bodies(h: Harness) -> None:
    for method, path in _paths():
        for label, headers in (
            ("no auth", {}),
            ("wrong token", {"Authorization": "Bearer not-the-token"}),
            ("basic", {"Authorization": "Basic YWRtaW46YWRtaW4="}),
            ("token twice", {"Authorization": f"Bearer {ADMIN} {ADMIN}"}),
            ("reader on admin", {"Authorization": f"Bearer {READER}"}),
        ):
            await h.send(label, method, path, headers=headers)
        if method == "POST":
            for label, body in BAD_BODIES.items():
                headers = signed(body) if path.endswith("pagerduty") else {**ADMIN_H, **HOOK}
                await h.send(label, method, path, data=body, headers=headers)
        await h.send(
            "query junk", method, path + "?limit=-1&since=%FF&cursor=%00&x=" + "y" * 3000, headers=ADMIN_H
        )
        await h.send("wrong method", "PUT" if method == "GET" else "GET", path, headers=ADMIN_H)


async def _encodings_and_content_types(h: Harness) -> None:
    good = am_payload(am_alert()).encode()
    for path, headers in (("/webhook/alertmanager", HOOK), (PREFIX + "/pause", {**ADMIN_H, **JSON})):
        for encoding, body in (
            ("gzip", b"this is not gzip"),
            ("gzip", gzip.compress(good)[:20]),
            ("deflate", b"not deflate either"),
            ("br", b"\x00\x01"),
            ("zstd", b"\x28\xb5\x2f\xfd"),
            ("gzip, gzip", gzip.compress(good)),
            ("identity;q=oops", good),
            ("x-unknown", good),
        ):
            await h.send(
                f"Content-Encoding {encoding}",
                "POST",
                path,
                data=body,
                headers={**headers, "Content-Encoding": encoding},
            )
        # A zip bomb: small on the wire, far over the body limit once inflated.
        bomb = zlib.compress(b"[" + b"0," * 3_000_000 + b"0]", 9)
        await h.send(
            "deflate bomb", "POST", path, data=bomb, headers={**headers, "Content-Encoding": "deflate"}
        )
    for ctype in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        "application/jsonx",
    ):
        await h.send(
            f"Content-Type {ctype!r}",
            "POST",
            "/webhook/alertmanager",
            data=good,
            headers={**HOOK, "Content-Type": ctype},
        )
    body = json.dumps({"event": {"id": "E1", "event_type": "incident.triggered"}}).encode()
    for sig in ("v1=é", "v1=\u202e", "v1=" + "ü" * 64, "v1=" + "0" * 10_000, "v2=abc", ",,,,", "v1="):
        await h.send(
            f"signature {sig[:10]!r}",
            "POST",
            "/webhook/pagerduty",
            data=body,
            headers={"X-PagerDuty-Signature": sig, **JSON},
        )


async def _times(h: Harness) -> None:
    for t in TIMES:
        alert = am_alert()
        alert["startsAt"] = t
        await h.send(f"startsAt {t}", "POST", "/webhook/alertmanager", data=am_payload(alert), headers=HOOK)
        alert = am_alert(status="resolved")
        alert["endsAt"] = t
        await h.send(f"endsAt {t}", "POST", "/webhook/alertmanager", data=am_payload(alert), headers=HOOK)
        incident = {
            "event": {
                "id": "E1",
                "event_type": "incident.triggered",
                "occurred_at": t,
                "data": {"id": "P1", "type": "incident", "created_at": t},
            }
        }
        raw = json.dumps(incident).encode()
        await h.send(f"pagerduty time {t}", "POST", "/webhook/pagerduty", data=raw, headers=signed(raw))
        trigger = {"alert": {"labels": {"alertname": "HighErrorRate"}, "startsAt": t}}
        await h.send(
            f"trigger startsAt {t}",
            "POST",
            PREFIX + "/rules/restart-on-errors/trigger",
            json=trigger,
            headers=ADMIN_H,
        )
        await h.send(f"since {t}", "GET", PREFIX + f"/incidents?since={t}", headers=ADMIN_H)
        await h.send(f"since {t}", "GET", PREFIX + f"/executions?since={t}", headers=ADMIN_H)


async def _raw_http(h: Harness) -> None:
    hook = b"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\n"
    auth = f"Authorization: Bearer {TOKEN}".encode()
    for label, request in (
        ("control char in Authorization", hook + auth + b"\x01\r\nContent-Length: 2\r\n\r\n{}"),
        ("NUL in Authorization", hook + auth + b"\x00x\r\nContent-Length: 2\r\n\r\n{}"),
        (
            "non-UTF-8 Authorization",
            hook + b"Authorization: Bearer \xff\xfe" + TOKEN.encode() + b"\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "non-UTF-8 signature",
            b"POST /webhook/pagerduty HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-PagerDuty-Signature: v1=\xff\xfe\r\nContent-Length: 2\r\n\r\n{}",
        ),
        ("header line too long", hook + auth + b"\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n"),
        (
            "too many headers",
            hook + auth + b"\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(500)) + b"\r\n",
        ),
        ("CL and TE", hook + auth + b"\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        (
            "bad chunk",
            hook
            + auth
            + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"zz\r\n{}\r\n0\r\n\r\n",
        ),
        ("negative length", hook + auth + b"\r\nContent-Length: -5\r\n\r\n"),
        ("two lengths", hook + auth + b"\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
        ("bad version", b"POST /webhook/alertmanager HTTP/9.9\r\n" + auth + b"\r\n\r\n"),
        ("bad method", b"P\x01ST /webhook/alertmanager HTTP/1.1\r\n" + auth + b"\r\n\r\n"),
        ("not HTTP", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + auth + b"\r\n\r\n"),
        ("token in the path", f"GET /api/v1/status?token={ADMIN} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
        ("path with spaces", b"GET /api/v1/rules/a b HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n\r\n"),
        (
            "admin token, bad header",
            f"POST /api/v1/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\x7f\r\n\r\n".encode(),
        ),
    ):
        await h.raw(label, request)


CONSOLE_FORMS: tuple[bytes, ...] = (
    b"",
    b"reason=x&reason=y",
    b"rule=&for=forever&reason=x",
    b"rule=&for=99999999999999d&reason=x",
    b"rule=%00&enabled=maybe&reason=a%00b",
    b"key=" + b"k" * 5000 + b"&reason=x",
    b"reason=%ff%fe&extra=1",
    b"next=//evil.example/&token=" + ADMIN.encode(),
    b"&&&===&%",
    b"reason=" + b"x" * 20_000,
)


async def _console_with_a_session(h: Harness) -> None:
    """Logged in as admin, with the session's CSRF token: hostile queries, path segments and forms
    on every console route (the console reads its own forms and queries, not the API's models)."""
    console = Console(client=h.client)
    assert (await console.login(ADMIN)).status == 303
    csrf = f"&csrf={console.csrf}".encode()
    for method, path in _paths():
        if not path.startswith("/ui") or path.endswith("/logout"):
            continue
        if method == "GET":
            for query in (
                "?cursor=-1&status=%FF",
                "?rule=a&rule=b",
                "?next=" + "%00" * 50,
                "?x=" + "y" * 3000,
            ):
                await h.send("console query", method, path + query)
            continue
        for form in CONSOLE_FORMS:
            await h.send("console form", method, path, data=form + csrf, headers=FORM)
        for label, body in BAD_BODIES.items():
            await h.send(f"console {label}", method, path, data=body + csrf, headers=FORM)
        await h.send("console json", method, path, data=b'{"reason": "x"}', headers=JSON)
        await h.send("console stale csrf", method, path, data=b"reason=x&csrf=0000", headers=FORM)
    await h.send("console logout", "POST", "/ui/logout", data=b"csrf=" + console.csrf.encode(), headers=FORM)


async def test_the_hostile_run_covers_every_registered_route(hostile: Harness) -> None:
    """A route added to the daemon without a place in the hostile run fails here."""
    registered = {
        (route.method, route.resource.canonical)
        for route in hostile.client.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert registered == set(_templates())


async def test_hostile_requests_get_4xx_never_5xx_and_no_secret_is_logged(
    hostile: Harness, captured_log: io.StringIO
) -> None:
    await _hostile_run(hostile, captured_log)


async def test_through_the_one_port_front_too(hostile_front: Harness, captured_log: io.StringIO) -> None:
    """The same run against the front (intake.processes: 1): the proxy adds no 5xx and logs no secret."""
    await _hostile_run(hostile_front, captured_log)


async def _hostile_run(h: Harness, captured_log: io.StringIO) -> None:
    await _every_endpoint_with_bad_auth_and_bodies(h)
    await _encodings_and_content_types(h)
    await _times(h)
    await _raw_http(h)
    await _console_with_a_session(h)
    await h.app.drained()

    assert len(h.answers) >= 300
    server_errors = [a for a in h.answers if a.status >= 500]
    assert server_errors == []
    public = ("/metrics", "/healthz", "/readyz", "/openapi.json", "/ui/login", "/ui/static/")
    let_in = [
        a.label
        for a in h.answers
        if a.status < 300
        and not any(p in a.label for p in public)
        and any(f"[{x}]" in a.label for x in ("no auth", "wrong token", "basic", "token twice"))
    ]
    assert let_in == []
    log = captured_log.getvalue()
    assert "webhook payload rejected" in log  # the log did capture the run...
    leaked = [s for s in SECRETS if s in log]
    assert leaked == []  # ...and no configured secret is in it, in any line

    # Still up, still correct: a good alert is accepted and read back.
    resp = await h.client.post("/webhook/alertmanager", data=am_payload(am_alert()), headers=HOOK)
    assert resp.status == 202
    await h.app.drained()
    for path in ("/healthz", "/readyz"):
        assert (await h.client.get(path)).status == 200
    resp = await h.client.get(PREFIX + "/incidents", headers=ADMIN_H)
    assert resp.status == 200


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "reason"),
    [
        (
            "/webhook/alertmanager",
            b"not gzip",
            {**HOOK, "Content-Encoding": "gzip"},
            400,
            "cannot read the request body",
        ),
        (
            "/webhook/alertmanager",
            b"not zlib",
            {**HOOK, "Content-Encoding": "deflate"},
            400,
            "cannot read the request body",
        ),
        ("/webhook/alertmanager", DEEP, HOOK, 400, "malformed JSON"),
        (PREFIX + "/pause", DEEP, {**ADMIN_H, **JSON}, 400, "not valid JSON"),
        (PREFIX + "/pause", b'{"reason": ' + DEEP + b"}", {**ADMIN_H, **JSON}, 400, "not valid JSON"),
        (
            PREFIX + "/rules/restart-on-errors/trigger",
            DEEP_OBJECT,
            {**ADMIN_H, **JSON},
            400,
            "not valid JSON",
        ),
        (
            "/webhook/alertmanager",
            b"{}",
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
            415,
            "application/json",
        ),
        (
            "/webhook/pagerduty",
            b"{}",
            {"X-PagerDuty-Signature": "v1=é", **JSON},
            401,
            "signature does not match",
        ),
    ],
)
async def test_bad_input_is_a_4xx_with_a_one_line_reason(
    hostile: Harness, path: str, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    sent = await hostile.send("case", "POST", path, data=body, headers=headers)
    assert sent.status == status, sent.body
    error = json.loads(sent.body)["error"]
    assert reason in error and "\n" not in error and len(error) <= 400
    assert await hostile.app.journal.count("payloads") == 0


@pytest.mark.parametrize("when", TIMES[:3])
async def test_times_out_of_datetime_range_are_refused_at_intake(hostile: Harness, when: str) -> None:
    alert = am_alert()
    alert["startsAt"] = when
    sent = await hostile.send("time", "POST", "/webhook/alertmanager", data=am_payload(alert), headers=HOOK)
    assert sent.status == 400 and "startsAt" in json.loads(sent.body)["error"]
    assert await hostile.app.journal.count("payloads") == 0


async def test_read_endpoints_answer_whatever_is_stored(hostile: Harness, api_settings: Settings) -> None:
    """Rows written before intake checked times (or edited by hand) never make a read fail."""
    h = hostile
    for deployment in ("checkout", "search"):
        resp = await h.client.post(
            "/webhook/alertmanager",
            data=am_payload(am_alert(deployment=deployment, severity="critical")),
            headers=HOOK,
        )
        assert resp.status == 202
    await h.app.drained()
    with sqlite3.connect(Path(api_settings.journal.path)) as db:
        # What `9999-12-31T23:59:59-01:00` and `0001-01-01T00:00:00+01:00` were stored as before intake
        # refused them: Unix seconds in year 10000 and year 0, which no datetime can hold.
        year_10000, year_0 = 253402300800 + 3599, -62135596800 - 3600
        db.execute(
            "UPDATE alerts SET starts_at = ?, labels = 'not json', annotations = '[1]' WHERE id = 1",
            (year_10000,),
        )
        db.execute("UPDATE alerts SET starts_at = ?, ends_at = ? WHERE id = 2", (year_0, year_10000))
        db.execute(
            "UPDATE executions SET created_at = ?, started_at = ?, changes = '{'", (year_10000, year_0)
        )
        db.execute("UPDATE decisions SET decided_at = ?", (year_10000,))
    _, body = await _get(h, "/incidents")
    assert len(body["incidents"]) == 2
    for incident in body["incidents"]:
        for fmt in ("json", "markdown"):
            status, _ = await _get(h, f"/incidents/{incident['id']}/timeline?format={fmt}")
            assert status == 200
    status, executions = await _get(h, "/executions")
    assert status == 200 and executions["executions"]
    status, _ = await _get(h, f"/executions/{executions['executions'][0]['id']}")
    assert status == 200
    for path in ("/status", "/audit", "/approvals", "/breakers", "/rules"):
        assert (await _get(h, path))[0] == 200


async def _get(h: Harness, path: str) -> tuple[int, Any]:
    sent = await h.send("read", "GET", PREFIX + path, headers=ADMIN_H)
    return sent.status, json.loads(sent.body) if sent.body.startswith("{") else sent.body


WRONG_METHODS = [
    ("GET", "/webhook/alertmanager", "POST"),
    ("PUT", "/webhook/pagerduty", "POST"),
    ("POST", "/metrics", "GET,HEAD"),
]


async def _wrong_method(h: Harness, method: str, path: str, allowed: str) -> None:
    sent = await h.send("wrong method", method, path, headers=ADMIN_H)
    assert sent.status == 405, sent.body
    assert json.loads(sent.body)["error"] == "Method Not Allowed"
    # RFC 9110 15.5.6: a 405 names the methods the resource does allow.
    assert sorted(sent.headers.get("Allow", "").split(",")) == sorted(allowed.split(","))


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
async def test_a_wrong_method_is_a_405(hostile: Harness, method: str, path: str, allowed: str) -> None:
    await _wrong_method(hostile, method, path, allowed)


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
async def test_the_front_answers_a_wrong_method_on_its_own_paths_the_same(
    hostile_front: Harness, method: str, path: str, allowed: str
) -> None:
    """Not passed on to the main process (which serves no webhooks: it would say 404)."""
    await _wrong_method(hostile_front, method, path, allowed)
