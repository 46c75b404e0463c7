"""The on-call console at /ui/: sessions, CSRF, escaping, every page, and the moves a human makes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from remediator.api import build_web_app
from remediator.api.console.sessions import IDLE_TTL_S, LOGIN_FAILURES_PER_MINUTE, SESSION_TTL_S
from remediator.app import open_app
from remediator.clock import FakeClock
from remediator.config import Settings
from tests.api.conftest import ADMIN, ADMIN_NAME, READER, Api, am_alert
from tests.api.console_client import FORM, Console, field, text


@pytest.fixture
def console(api: Api) -> Console:
    return Console(api.client)


# -- logging in ----------------------------------------------------------------------------------------


async def test_pages_need_a_session(api: Api, console: Console) -> None:
    status, _ = await console.get("/ui/approvals?x=1")
    assert status == 303
    resp = await api.client.get("/ui/approvals", allow_redirects=False)
    assert resp.headers["Location"] == "/ui/login?next=%2Fui%2Fapprovals"
    resp = await api.client.post("/ui/pause", data={"reason": "x"}, allow_redirects=False)
    assert resp.status == 401 and "log in again" in text(await resp.text())


async def test_login_keeps_the_token_out_of_the_cookie(api: Api, console: Console) -> None:
    resp = await console.login(ADMIN, next_path="/ui/controls")
    assert resp.status == 303 and resp.headers["Location"] == "/ui/controls"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("remediator_session=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/ui/"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http on loopback; see the TLS test below
    assert ADMIN not in str(resp.headers) and ADMIN not in cookie
    status, page = await console.get("/ui/")
    assert status == 200 and f"{ADMIN_NAME} (admin)" in text(page)
    assert ADMIN not in page


async def test_the_cookie_is_secure_when_served_over_tls(
    api: Api, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    """Behind a TLS-terminating proxy the daemon sees plain http: its public_url says https."""
    state = api.app.api_state()
    http = state.settings.http.model_copy(update={"public_url": "https://remediator.example"})
    tls = replace(state, settings=state.settings.model_copy(update={"http": http}))
    client = await aiohttp_client(build_web_app(tls))
    form_page = await client.get("/ui/login")
    assert "Secure" in form_page.headers["Set-Cookie"]
    csrf = field(await form_page.text(), "csrf")
    resp = await client.post(  # the test client keeps Secure cookies off plain http: send it by hand
        "/ui/login",
        data={"token": ADMIN, "csrf": csrf, "next": "/ui/"},
        headers={"Cookie": f"remediator_login={csrf}"},
        allow_redirects=False,
    )
    assert resp.status == 303
    session_cookie = next(c for c in resp.headers.getall("Set-Cookie") if c.startswith("remediator_session="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie


async def test_a_wrong_token_is_refused_then_throttled(api: Api, console: Console) -> None:
    resp = await console.login("not-a-token")
    assert resp.status == 401
    page = text(await resp.text())
    assert "Unknown token" in page and "alice (admin, env TEST_ADMIN_TOKEN)" in page
    for _ in range(LOGIN_FAILURES_PER_MINUTE):
        resp = await console.login("not-a-token")
    assert resp.status == 429 and "too many failed logins" in text(await resp.text())
    resp = await console.login(ADMIN)
    assert resp.status == 429  # even the right token waits out the minute
    api.clock.advance(61)
    assert (await console.login(ADMIN)).status == 303


async def test_login_without_its_own_form_is_refused(api: Api) -> None:
    resp = await api.client.post("/ui/login", data={"token": ADMIN, "csrf": "forged"}, allow_redirects=False)
    assert resp.status == 400 and "expired" in text(await resp.text())


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/ui/\\evil", "/api/v1/status"]
)
async def test_login_goes_back_to_our_own_pages_only(console: Console, target: str) -> None:
    resp = await console.login(ADMIN, next_path=target)
    assert resp.headers["Location"] == "/ui/"


async def test_a_session_ends_when_idle_and_at_logout(api: Api, console: Console) -> None:
    await console.login(ADMIN)
    api.clock.advance(IDLE_TTL_S + 1)
    status, _ = await console.get("/ui/")
    assert status == 303
    await console.login(ADMIN)
    resp = await console.post("/ui/logout", {})
    assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    assert (await console.get("/ui/"))[0] == 303


# -- CSRF and scopes -------------------------------------------------------------------------------------


async def test_every_post_needs_the_sessions_csrf_token(api: Api, console: Console) -> None:
    await console.login(ADMIN)
    for csrf in ("", "x" * 43, console.csrf.upper() if console.csrf != console.csrf.upper() else "y"):
        resp = await console.post("/ui/pause", {"rule": "", "for": "1h", "reason": "no"}, csrf=csrf)
        assert resp.status == 403 and "form expired" in text(await resp.text())
    resp = await console.post(
        "/ui/pause", {"rule": "", "for": "1h", "reason": "no"}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403 and "another site" in text(await resp.text())
    paused, _ = api.app.operator.active_pauses() if api.app.operator else (None, {})
    assert paused is None


async def test_a_read_token_sees_everything_and_changes_nothing(api: Api, console: Console) -> None:
    await api.alert(am_alert("CacheStale", deployment="search"))
    await console.login(READER)
    status, page = await console.get("/ui/approvals")
    assert status == 200 and "Read-only token" in page and "/approve" not in page
    resp = await console.post("/ui/pause", {"rule": "", "for": "1h", "reason": "let me"})
    assert resp.status == 403 and "read-only" in text(await resp.text())


# -- what a page shows, and never shows ------------------------------------------------------------------

EVIL = '<script>alert("x")</script>'


async def test_attacker_controlled_labels_are_escaped_on_every_page(api: Api, console: Console) -> None:
    alert = am_alert(severity="critical", team=EVIL)
    alert["annotations"] = {
        "summary": f"5xx {EVIL}",
        "value": "42",
        "runbook_url": "javascript:alert(1)",
        "dashboard_url": 'https://grafana.example/d/x?a="><b>',
    }
    await api.alert(alert)
    await console.login(ADMIN)
    _, now = await console.get("/ui/")
    [href] = re.findall(r'href="(/ui/incidents/[^"]+)"', now)
    pages = [now]
    for path in (href, "/ui/incidents", "/ui/decisions", "/ui/approvals", "/ui/audit", "/ui/controls"):
        status, page = await console.get(path)
        assert status == 200, path
        pages.append(page)
    incident = pages[1]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in incident
    for page in pages:
        assert "<script>alert" not in page
        assert 'href="javascript:' not in page
        assert "<b>" not in page
    assert 'href="https://grafana.example/d/x?a=&quot;&gt;&lt;b&gt;"' in incident  # a link, its quote escaped


async def test_console_pages_carry_security_headers(console: Console, api: Api) -> None:
    await console.login(ADMIN)
    resp = await api.client.get("/ui/")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script>" not in page  # no inline script: the CSP would block it
    css = await api.client.get("/ui/static/console.css")
    assert css.status == 200 and css.content_type == "text/css"


async def test_now_shows_mode_open_incidents_approvals_and_health(api: Api, console: Console) -> None:
    await api.alert(am_alert(severity="critical"))
    await api.alert(am_alert("CacheStale", deployment="search", severity="warning"))
    await console.login(ADMIN)
    status, page = await console.get("/ui/")
    shown = text(page)
    assert status == 200
    assert "RUNNING: remediator acts on alerts" in shown
    assert "Waiting for you (1) flush-cache → shop/Deployment/search" in shown
    assert "Open incidents (2)" in shown
    assert "critical HighErrorRate on shop/checkout" in shown and "firing for" in shown
    assert "Approvals (1)" in shown
    assert "Kubernetes connected" in shown


async def test_incident_page_has_the_timeline_diff_and_postmortem(api: Api, console: Console) -> None:
    await api.alert(am_alert(severity="critical"))
    await console.login(ADMIN)
    _, now = await console.get("/ui/")
    [href] = re.findall(r'href="(/ui/incidents/[^"]+)"', now)
    status, page = await console.get(href)
    shown = text(page)
    assert status == 200
    assert "HighErrorRate on shop/checkout" in shown
    assert "Decided act restart-on-errors → shop/Deployment/checkout" in shown
    assert re.search(r"Execution #\d+ succeeded rollout_restart on shop/Deployment/checkout", shown)
    # as `kubectl diff` shows it: the applied object's YAML, the restart annotation added
    assert "+++ applied/apps.v1.Deployment.shop.checkout" in shown
    assert re.search(r"\+ kubectl\.kubernetes\.io/restartedAt: '?20\d\d-", shown)
    assert "# Postmortem: HighErrorRate on shop/checkout" in shown
    resp = await api.client.get(href + "/postmortem.md")
    assert resp.status == 200 and resp.content_type == "text/markdown"
    assert "## Timeline" in await resp.text()


# -- the moves -------------------------------------------------------------------------------------------


async def test_approve_shows_the_change_then_makes_it_and_audits_it(api: Api, console: Console) -> None:
    await api.alert(am_alert("CacheStale", deployment="search"))
    await console.login(ADMIN)
    status, page = await console.get("/ui/approvals")
    shown = text(page)
    assert status == 200
    assert "What would change" in shown and "would restart shop/Deployment/search" in shown
    assert "+++ planned/apps.v1.Deployment.shop.search" in shown
    assert re.search(r"\+ kubectl\.kubernetes\.io/restartedAt: '?20\d\d-", shown)
    assert not [w for w in api.kube.writes if w.method == "PATCH"]  # a preview changes nothing
    [action] = re.findall(r'action="(/ui/approvals/\d+/approve)"', page)
    status, after = await console.post_and_follow(action, {"reason": "cache is stale for real"})
    assert status == 200
    assert re.search(
        r"Approved #\d+ \(flush-cache on shop/Deployment/search\): decided act, execution #\d+ started",
        text(after),
    )
    await api.app.drained()
    patches = [w for w in api.kube.writes if w.method == "PATCH"]
    assert len(patches) == 1 and patches[0].path.endswith("/deployments/search")
    _, audit = await console.get("/ui/audit")
    assert re.search(rf"approve by {ADMIN_NAME} .*“cache is stale for real”", text(audit))
    # approved once: the form is gone and a second post is a conflict, not a second restart
    resp = await console.post(action, {"reason": "again"})
    assert resp.status == 409 and "not pending" in text(await resp.text())


async def test_reject_needs_a_reason_and_changes_nothing(api: Api, console: Console) -> None:
    await api.alert(am_alert("CacheStale", deployment="search"))
    await console.login(ADMIN)
    _, page = await console.get("/ui/approvals")
    [action] = re.findall(r'action="(/ui/approvals/\d+/reject)"', page)
    resp = await console.post(action, {"reason": "  "})
    assert resp.status == 400 and "a reason is required" in text(await resp.text())
    status, after = await console.post_and_follow(action, {"reason": "not during the sale"})
    assert status == 200 and "Rejected #" in text(after)
    assert "rejected" in text(after) and "not during the sale" in text(after)
    assert not [w for w in api.kube.writes if w.method == "PATCH"]


async def test_pause_resume_and_dry_run_from_the_controls(api: Api, console: Console) -> None:
    await console.login(ADMIN)
    status, page = await console.post_and_follow(
        "/ui/pause", {"rule": "", "for": "1h", "reason": "database migration"}
    )
    assert status == 200 and "Paused everything until" in text(page)
    assert api.app.operator is not None
    paused, _ = api.app.operator.active_pauses()
    assert paused is not None and paused.by == ADMIN_NAME and paused.reason == "database migration"
    _, now = await console.get("/ui/")
    assert f"PAUSED: nothing acts by {ADMIN_NAME} until" in text(now) and "database migration" in text(now)
    status, page = await console.post_and_follow("/ui/resume", {"rule": "", "reason": "migration done"})
    assert "Resumed everything." in text(page)
    status, page = await console.post_and_follow(
        "/ui/dry-run", {"rule": "scale-workers", "enabled": "on", "reason": "new threshold"}
    )
    assert "Dry-run on for rule scale-workers." in text(page) and "scale-workers in dry-run" in text(page)
    resp = await console.post("/ui/pause", {"rule": "nope", "for": "", "reason": "x"})
    assert resp.status == 404 and "no rule named 'nope'" in text(await resp.text())
    _, audit = await console.get("/ui/audit")
    assert [m for m in ("pause", "resume", "dry_run") if m in text(audit)] == ["pause", "resume", "dry_run"]


async def test_decisions_filter_by_rule_outcome_and_target(api: Api, console: Console) -> None:
    await api.alert(am_alert(severity="critical"))
    await api.alert(am_alert("CacheStale", deployment="search"))
    await console.login(ADMIN)

    async def listed(query: str) -> str:
        status, page = await console.get(f"/ui/decisions?{query}")
        assert status == 200
        return text(page).split(" Filter ", 1)[1]  # below the filter form (its selects name every rule)

    shown = await listed("outcome=needs_approval")
    assert "flush-cache" in shown and "restart-on-errors" not in shown
    shown = await listed("rule=restart-on-errors&target=shop%2Fcheckout")
    assert "restart-on-errors → shop/Deployment/checkout" in shown and "flush-cache" not in shown
    assert "No decisions match." in await listed("target=shop%2Fnothing-here")


# -- hostile input ---------------------------------------------------------------------------------------

BAD_GETS = [
    "/ui/?x=1",
    "/ui/decisions?outcome=explode",
    "/ui/decisions?rule=a&rule=b",
    "/ui/decisions?cursor=-1",
    "/ui/decisions?cursor=99999999999999999999999",
    "/ui/decisions?target=" + "a" * 5000,
    "/ui/decisions?rule=%00",
    "/ui/incidents?status=burning",
    "/ui/incidents?cursor=%ff",
    "/ui/incidents/nope",
    "/ui/incidents/" + "f" * 400,
    "/ui/incidents/%E2%80%AE-1",
    "/ui/incidents/abc-99999999999/postmortem.md",
    "/ui/approvals?limit=1",
    "/ui/audit?cursor=abc",
    "/ui/login?next=a&next=b",
]
BAD_POSTS: list[tuple[str, object, dict[str, str]]] = [
    ("/ui/pause", "rule=&for=1h&reason=x&reason=y", FORM),
    ("/ui/pause", "rule=&for=forever&reason=x", FORM),
    ("/ui/pause", "rule=&for=0s&reason=x", FORM),
    ("/ui/pause", "rule=&for=99999999999999d&reason=x", FORM),
    ("/ui/pause", "rule=&for=1h&reason=x&extra=1", FORM),
    ("/ui/pause", b"rule=&for=1h&reason=%ff%fe", FORM),
    ("/ui/pause", '{"reason": "x"}', {"Content-Type": "application/json"}),
    ("/ui/pause", "reason=" + "x" * 20000, FORM),
    ("/ui/pause", "rule=&for=1h&reason=a%00b", FORM),
    ("/ui/dry-run", "rule=&enabled=maybe&reason=x", FORM),
    ("/ui/approvals/abc/approve", "reason=", FORM),
    ("/ui/approvals/0/approve", "reason=", FORM),
    ("/ui/approvals/99999999999999999999/approve", "reason=", FORM),
    ("/ui/approvals/12345/reject", "reason=x", FORM),
    ("/ui/breakers/reset", "key=nope&reason=x", FORM),
    ("/ui/breakers/reset", "key=&reason=", FORM),
]


async def test_malformed_input_is_a_4xx_with_one_line_never_a_500(api: Api, console: Console) -> None:
    await console.login(ADMIN)
    for path in BAD_GETS:
        resp = await api.client.get(path, allow_redirects=False)
        body = await resp.text()
        assert 400 <= resp.status < 500, (path, resp.status, body[:300])
        reasons = re.findall(r'<p class="banner bad" role="alert">([^<]*)</p>', body)
        assert len(reasons) == 1 and "\n" not in reasons[0] and reasons[0], (path, body[:300])
    for path, data, headers in BAD_POSTS:
        if isinstance(data, str) and "csrf=" not in data:
            data = f"{data}&csrf={console.csrf}"
        elif isinstance(data, bytes):
            data = data + f"&csrf={console.csrf}".encode()
        resp = await api.client.post(path, data=data, headers=headers, allow_redirects=False)
        body = await resp.text()
        assert 400 <= resp.status < 500, (path, data, resp.status, body[:300])
        assert re.search(r'<p class="banner bad" role="alert">[^<\n]+</p>', body), (path, body[:300])
    assert api.app.operator is not None and api.app.operator.active_pauses() == (None, {})


async def test_now_shows_deferred_work_in_the_order_it_will_be_retried(api: Api, console: Console) -> None:
    """A decision that met a transient denial waits in the journal; Now says what waits and why."""
    from remediator.model import ActionSpec, Alert, Decision, Outcome, RuleName, Target

    alert = Alert(
        source="alertmanager",
        fingerprint="deferred-1",
        status="firing",
        labels={
            "alertname": "HighErrorRate",
            "namespace": "shop",
            "deployment": "search",
            "severity": "critical",
        },
        annotations={"value": "42"},
        starts_at=api.clock.now(),
    )
    waiting = Decision(
        alert=alert,
        rule=RuleName("restart-on-errors"),
        target=Target(kind="Deployment", namespace="shop", name="search"),
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=Outcome.DEFERRED,
        reason="deferred: namespace shop has 3 actions in flight (max 3)",
        dry_run=False,
        decided_at=api.clock.now(),
    )
    await api.app.journal.record_batch(payload_ids=[], alerts=[alert], decisions=[(0, waiting)])
    await console.login(ADMIN)
    _, page = await console.get("/ui/")
    shown = text(page)
    assert "Deferred work (1)" in shown
    assert "restart-on-errors → shop/Deployment/search" in shown
    assert "namespace shop has 3 actions in flight (max 3)" in shown


async def test_a_login_outlives_a_restart_until_logout_or_expiry_and_its_token_is_never_kept(
    api_settings: Settings,
    api_clock: FakeClock,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def restarted(cookie: str, path: str = "/ui/") -> tuple[int, str]:
        """The daemon started again on the same journal, and the browser comes back with its cookie."""
        async with open_app(api_settings, clock=api_clock) as app:
            client = await aiohttp_client(build_web_app(app.api_state()))
            resp = await client.get(
                path, headers={"Cookie": f"remediator_session={cookie}"}, allow_redirects=False
            )
            status, page = resp.status, await resp.text()
            await client.close()
            return status, page

    async def logged_in() -> str:
        async with open_app(api_settings, clock=api_clock) as app:
            console = Console(await aiohttp_client(build_web_app(app.api_state())))
            resp = await console.login(ADMIN)
            assert resp.status == 303
            cookie = resp.cookies["remediator_session"].value
            await console.client.close()
            return cookie

    kept = await logged_in()
    status, page = await restarted(kept)
    assert status == 200 and f"{ADMIN_NAME} (admin)" in text(page), "still logged in after the restart"
    made_up = ("y" if kept[0] == "x" else "x") + kept[1:]  # one character off, never the cookie itself
    assert (await restarted(made_up))[0] == 303, "a made-up cookie is not a session"

    journal = api_settings.journal.path.read_bytes() + b"".join(
        p.read_bytes() for p in api_settings.journal.path.parent.glob(api_settings.journal.path.name + "-wal")
    )
    assert kept.encode() not in journal and ADMIN.encode() not in journal, "only a digest is kept"
    assert kept not in capsys.readouterr().out, "nor logged"

    async with open_app(api_settings, clock=api_clock) as app:  # log out: the session is gone for good
        console = Console(await aiohttp_client(build_web_app(app.api_state())))
        console.client.session.cookie_jar.update_cookies({"remediator_session": kept})
        status, page = await console.get("/ui/")
        assert status == 200
        console.csrf = field(page, "csrf")
        assert (await console.post("/ui/logout", {})).status == 303
        await console.client.close()
    assert (await restarted(kept))[0] == 303, "logged out stays logged out after a restart"

    expiring = await logged_in()
    api_clock.advance(SESSION_TTL_S + 1)  # touched every page view, yet past its absolute lifetime
    assert (await restarted(expiring))[0] == 303, "an expired session ends, restart or not"
