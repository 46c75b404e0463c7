"""The override API end to end: the real daemon, its journal and the fake cluster, driven over HTTP.

What an on-call does and what they must be able to rely on: who may do what, that a change takes
effect on the next decision, that it is journaled with their name and reason, and that what was
done can be read back.
"""

from __future__ import annotations

import textwrap
import urllib.parse
from datetime import timedelta
from pathlib import Path

from remediator.model import ExecutionStatus
from tests.api.conftest import ADMIN_NAME, READER, READER_NAME, Api, am_alert
from tests.scenarios.conftest import metric

# -- auth --------------------------------------------------------------------------------------------


async def test_no_token_unknown_token_and_read_scope(api: Api) -> None:
    status, body = await api.get("/status", token=None)
    assert status == 401
    assert set(body) == {"error", "detail"} and "missing bearer token" in body["error"]
    # the answer says where tokens come from (the variables), never a value
    assert "env TEST_ADMIN_TOKEN (admin), env TEST_READER_TOKEN (read)" in body["error"]
    assert "$REMEDIATOR_TOKEN" in body["error"] and READER not in body["error"]
    resp = await api.client.get("/api/v1/status")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")

    status, body = await api.get("/status", token="not-a-token")
    assert status == 401 and "unknown bearer token" in body["error"]

    status, body = await api.get("/status", token=READER)
    assert status == 200 and body["caller"] == {"name": READER_NAME, "scope": "read"}

    status, body = await api.post("/pause", {"reason": "x"}, token=READER)
    assert status == 403
    assert READER_NAME in body["error"] and "admin" in body["error"]
    assert api.app.mode.paused is None

    status, _ = await api.get("/openapi.json", token=None)
    assert status == 200


# -- status, pause, resume ---------------------------------------------------------------------------


async def test_status_when_running(api: Api) -> None:
    status, body = await api.get("/status")
    assert status == 200
    assert body["mode"] == "running"
    assert body["paused"] is None and body["paused_rules"] == {}
    assert body["rules"]["loaded"] == 3
    assert body["kubernetes"] == {"connected": True, "dry_run_reason": None}
    assert body["journal"]["healthy"] is True and body["journal"]["backlog"] == 0
    assert body["breakers"]["open"] == 0


async def test_global_pause_is_enforced_journaled_and_expires(api: Api) -> None:
    status, body = await api.post("/pause", {"reason": "database migration", "for": "30m"})
    assert status == 200, body
    assert body["pause"]["by"] == ADMIN_NAME and body["pause"]["until"]
    assert metric(await api.metrics(), "remediator_paused") == 1

    _, st = await api.get("/status")
    assert st["mode"] == "paused"
    assert st["paused"]["reason"] == "database migration" and st["paused"]["by"] == ADMIN_NAME

    await api.alert(am_alert(severity="critical"))
    decisions = await api.app.journal.decisions()
    assert [d["outcome"] for d in decisions] == ["paused"]
    assert f"paused by {ADMIN_NAME}" in decisions[0]["reason"]
    assert "database migration" in decisions[0]["reason"]
    assert not [w for w in api.kube.writes if w.method == "PATCH"]

    _, audit = await api.get("/audit")
    [entry] = audit["audit"]
    assert entry["actor"] == ADMIN_NAME and entry["action"] == "pause"
    assert entry["detail"]["reason"] == "database migration" and entry["detail"]["until"]

    api.clock.advance(31 * 60)
    assert metric(await api.metrics(), "remediator_paused") == 0
    _, st = await api.get("/status")
    assert st["mode"] == "running" and st["paused"] is None


async def test_resume_lifts_the_pause(api: Api) -> None:
    await api.post("/pause", {"reason": "risky"})
    status, body = await api.post("/resume", {"reason": "done"})
    assert status == 200 and body["was_paused"] is True and body["lifted"]["reason"] == "risky"
    assert metric(await api.metrics(), "remediator_paused") == 0
    status, body = await api.post("/resume", {"reason": "again"})
    assert status == 200 and body["was_paused"] is False
    await api.alert(am_alert(severity="critical"))
    assert [d["outcome"] for d in await api.app.journal.decisions()] == ["act"]
    _, audit = await api.get("/audit")
    assert [a["action"] for a in audit["audit"]] == ["resume", "resume", "pause"]


async def test_pause_one_rule(api: Api) -> None:
    status, body = await api.post("/pause", {"reason": "looking", "rule": "nope"})
    assert status == 404 and "nope" in body["error"]
    status, _ = await api.post("/pause", {"reason": "looking", "rule": "restart-on-errors"})
    assert status == 200
    _, st = await api.get("/status")
    assert st["mode"] == "running"
    assert st["paused_rules"]["restart-on-errors"]["by"] == ADMIN_NAME
    assert metric(await api.metrics(), "remediator_paused") == 0
    _, rules = await api.get("/rules")
    paused = {r["name"]: r["paused"] for r in rules["rules"]}
    assert paused["restart-on-errors"]["reason"] == "looking" and paused["scale-workers"] is None

    await api.alert(am_alert(severity="critical"))
    assert [d["outcome"] for d in await api.app.journal.decisions()] == ["paused"]
    status, body = await api.post("/resume", {"reason": "ok", "rule": "restart-on-errors"})
    assert status == 200 and body["was_paused"] is True
    assert api.app.mode.paused_rules == {}


async def test_bad_requests_are_400_with_the_problem(api: Api) -> None:
    status, body = await api.post("/pause", {})
    assert status == 400 and body["detail"] == ["reason: Field required"]
    status, body = await api.post("/pause", {"reason": "   "})
    assert status == 400 and "reason" in body["detail"][0]
    status, body = await api.post("/pause", {"reason": "x", "reson": "typo"})
    assert status == 400 and body["detail"] == ["reson: unknown key"]
    status, body = await api.post("/pause", {"reason": "x", "for": "soon"})
    assert status == 400 and body["error"].startswith("for:")
    status, body = await api.post("/pause", [1, 2])
    assert status == 400 and "JSON object" in body["error"]
    resp = await api.client.post(
        "/api/v1/pause", data=b"{not json", headers={"Authorization": "Bearer admin-secret-token"}
    )
    assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]
    status, body = await api.post("/dry-run", {"enabled": "yes", "reason": "x"})
    assert status == 400 and body["detail"][0].startswith("enabled:")
    status, body = await api.get("/executions?limit=0")
    assert status == 400 and "limit" in body["error"]
    status, body = await api.get("/executions?rul=x")
    assert status == 400 and "'rul'" in body["error"]
    status, body = await api.get("/executions?cursor=abc")
    assert status == 400
    status, body = await api.get("/executions/abc")
    assert status == 400
    status, body = await api.get("/executions/99")
    assert status == 404
    assert api.app.mode.paused is None


# -- dry-run ------------------------------------------------------------------------------------------


async def test_dry_run_one_rule_then_globally(api: Api) -> None:
    status, body = await api.post(
        "/dry-run", {"enabled": True, "rule": "restart-on-errors", "reason": "new rule"}
    )
    assert status == 200 and body["changed"] is True
    assert metric(await api.metrics(), "remediator_dry_run") == 0
    await api.alert(am_alert(severity="critical"))
    [d] = await api.app.journal.decisions()
    assert d["outcome"] == "dry_run" and "rule 'restart-on-errors' is in dry-run" in d["reason"]
    assert not [w for w in api.kube.writes if w.method == "PATCH"]
    _, st = await api.get("/status")
    assert st["dry_run"]["rules"] == ["restart-on-errors"] and st["mode"] == "running"

    await api.post("/dry-run", {"enabled": False, "rule": "restart-on-errors", "reason": "ok"})
    status, body = await api.post("/dry-run", {"enabled": True, "reason": "freeze"})
    assert status == 200 and body["changed"] is True
    assert metric(await api.metrics(), "remediator_dry_run") == 1
    _, st = await api.get("/status")
    assert st["mode"] == "dry-run" and st["dry_run"]["global"] is True
    await api.post("/dry-run", {"enabled": False, "reason": "thaw"})
    assert metric(await api.metrics(), "remediator_dry_run") == 0
    _, audit = await api.get("/audit?action=dry_run")
    assert [a["detail"]["enabled"] for a in audit["audit"]] == [False, True, False, True]
    assert all(a["actor"] == ADMIN_NAME for a in audit["audit"])


# -- rules and reload -----------------------------------------------------------------------------------


async def test_rules_list_and_show(api: Api, api_rules_dir: Path) -> None:
    status, body = await api.get("/rules", token=READER)
    assert status == 200
    assert [r["name"] for r in body["rules"]] == ["restart-on-errors", "scale-workers", "flush-cache"]
    status, rule = await api.get("/rules/restart-on-errors", token=READER)
    assert status == 200
    assert rule["match"] == ['alertname="HighErrorRate"', 'severity="critical"']
    assert rule["when"] == "value > 10/min"
    assert rule["target"] == {
        "kind": "Deployment",
        "namespace": "{{ labels.namespace }}",
        "name": "{{ labels.deployment }}",
    }
    assert rule["actions"][0]["kind"] == "rollout_restart"
    assert rule["guards"]["cooldown_s"] == 120
    assert rule["source"] == f"{api_rules_dir / 'rules.yaml'}:3"
    status, body = await api.get("/rules/restart-on-error")
    assert status == 404 and body["detail"]["did_you_mean"] == ["restart-on-errors"]
    assert "did you mean 'restart-on-errors'?" in body["error"]


async def test_reload_swaps_atomically_or_keeps_the_old_rules(api: Api, api_rules_dir: Path) -> None:
    extra = api_rules_dir / "extra.yaml"
    extra.write_text(
        textwrap.dedent(
            """
            rules:
              - name: restart-search
                match: ['alertname = "SearchDown"']
                target: {kind: Deployment, namespace: shop, name: search}
                actions: [{rollout_restart: {}}]
            """
        )
    )
    status, body = await api.post("/reload", {"reason": "new rule"})
    assert status == 200, body
    assert body["added"] == ["restart-search"] and body["rules"] == 4
    assert api.app.rules.get("restart-search") is not None
    text = await api.metrics()
    assert metric(text, "remediator_config_reload_total", result="success") == 1
    assert metric(text, "remediator_rules_loaded") == 4
    assert 'remediator_rule_matches_total{rule="restart-search"} 0.0' in text

    await api.alert(am_alert("SearchDown", deployment="search"))
    assert [d["rule"] for d in await api.app.journal.decisions()] == ["restart-search"]

    extra.write_text("rules:\n  - name: Bad Name\n    match: []\n")
    status, body = await api.post("/reload")
    assert status == 422
    assert body["detail"] and all(str(extra) + ":" in e for e in body["detail"])
    assert "previous 4 rules stay active" in body["error"]
    assert api.app.rules.get("restart-search") is not None
    text = await api.metrics()
    assert metric(text, "remediator_config_reload_total", result="failure") == 1
    assert metric(text, "remediator_rules_loaded") == 4
    _, st = await api.get("/status")
    assert st["rules"]["last_reload"]["result"] == "failure"
    _, audit = await api.get("/audit?action=reload")
    assert [a["detail"]["result"] for a in audit["audit"]] == ["failure", "success"]
    assert audit["audit"][1]["detail"]["reason"] == "new rule"


# -- trigger ---------------------------------------------------------------------------------------------


async def test_trigger_by_target_is_a_dry_run_by_default(api: Api) -> None:
    status, body = await api.post(
        "/rules/restart-on-errors/trigger",
        {"target": {"namespace": "shop", "name": "checkout"}, "reason": "rehearsal"},
        token=READER,
    )
    assert status == 200, body
    d = body["decision"]
    assert d["outcome"] == "dry_run" and d["dry_run"] is True
    assert d["target"] == "shop/Deployment/checkout"
    assert d["reason"].startswith(
        f"manual trigger by {READER_NAME} (dry-run, for a target: `when: value > 10/min` not evaluated): "
        "rehearsal;"
    )
    assert d["alert"]["labels"] == {
        "alertname": "HighErrorRate",
        "severity": "critical",
        "namespace": "shop",
        "deployment": "checkout",
    }
    await api.app.drained()
    status, ex = await api.get(f"/executions/{body['execution_id']}")
    assert status == 200
    assert ex["status"] == ExecutionStatus.PLANNED and ex["who"] == READER_NAME and ex["via"] == "trigger"
    assert ex["changes"] and "restartedAt" in ex["changes"][0]["path"]
    assert not [w for w in api.kube.writes if w.method == "PATCH"]
    _, audit = await api.get("/audit")
    assert audit["audit"][0]["actor"] == READER_NAME and audit["audit"][0]["action"] == "trigger"


async def test_trigger_for_real_needs_admin_and_acts(api: Api) -> None:
    body = {"target": {"namespace": "shop", "name": "checkout"}, "dry_run": False, "reason": "fix now"}
    status, _ = await api.post("/rules/restart-on-errors/trigger", body, token=READER)
    assert status == 403
    status, rec = await api.post("/rules/restart-on-errors/trigger", body)
    assert status == 200, rec
    assert rec["decision"]["outcome"] == "act"
    assert rec["decision"]["reason"].startswith(f"manual trigger by {ADMIN_NAME} (real, for a target")
    assert "fix now;" in rec["decision"]["reason"]
    await api.app.drained()
    patches = [w for w in api.kube.writes if w.method == "PATCH"]
    assert len(patches) == 1 and "checkout" in patches[0].path
    _, ex = await api.get(f"/executions/{rec['execution_id']}")
    assert ex["status"] == "succeeded" and ex["who"] == ADMIN_NAME
    assert ex["audit"][0]["detail"]["reason"] == "fix now"

    # The guards are in force: a second real trigger lands in the rule's cooldown (2m).
    api.clock.advance(10)
    status, again = await api.post("/rules/restart-on-errors/trigger", body)
    assert status == 200 and again["decision"]["outcome"] == "cooldown" and again["execution_id"] is None


async def test_trigger_target_the_rule_cannot_render(api: Api) -> None:
    path = "/rules/scale-workers/trigger"
    status, body = await api.post(path, {"target": {"namespace": "shop", "name": "image-gen-worker"}})
    assert status == 200, body
    assert body["decision"]["alert"]["labels"]["service"] == "image-gen"
    status, body = await api.post(path, {"target": {"namespace": "prod", "name": "image-gen-worker"}})
    assert status == 400 and "always gives 'shop'" in body["error"]
    status, body = await api.post(path, {"target": {"namespace": "shop", "name": "checkout"}})
    assert status == 400 and "ends with '-worker'" in body["error"]
    status, body = await api.post(
        path, {"target": {"namespace": "shop", "name": "image-gen-worker", "kind": "StatefulSet"}}
    )
    assert status == 400 and "acts on a Deployment" in body["error"]
    status, body = await api.post(path, {})
    assert status == 400 and "exactly one" in body["error"]
    status, body = await api.post("/rules/nope/trigger", {"target": {"namespace": "a", "name": "b"}})
    assert status == 404


async def test_trigger_with_an_alert_evaluates_everything(api: Api) -> None:
    path = "/rules/restart-on-errors/trigger"
    labels = {
        "alertname": "HighErrorRate",
        "severity": "critical",
        "namespace": "shop",
        "deployment": "search",
    }
    status, body = await api.post(path, {"alert": {"labels": labels, "annotations": {"value": "3"}}})
    assert status == 200 and body["decision"]["outcome"] == "condition_false"
    status, body = await api.post(path, {"alert": {"labels": labels, "annotations": {"value": "30"}}})
    assert status == 200 and body["decision"]["outcome"] == "dry_run"
    status, body = await api.post(path, {"alert": {"labels": {**labels, "severity": "info"}}})
    assert status == 400 and 'severity="critical"' in body["error"]


# -- executions -------------------------------------------------------------------------------------------


async def test_executions_are_filtered_and_paginated(api: Api) -> None:
    for name in ("checkout", "search", "image-gen"):
        await api.alert(am_alert(deployment=name, severity="critical"))
    await api.post(
        "/rules/scale-workers/trigger", {"target": {"namespace": "shop", "name": "image-gen-worker"}}
    )
    await api.app.drained()
    status, page = await api.get("/executions?limit=2", token=READER)
    assert status == 200
    assert [e["target"] for e in page["executions"]] == [
        "shop/Deployment/image-gen-worker",
        "shop/Deployment/image-gen",
    ]
    assert page["next"]
    status, page2 = await api.get(f"/executions?limit=2&cursor={page['next']}")
    assert [e["target"] for e in page2["executions"]] == [
        "shop/Deployment/search",
        "shop/Deployment/checkout",
    ]
    assert page2["next"] is None
    first = page2["executions"][1]
    assert first["who"] == "remediator" and first["via"] == "alert"
    assert first["alert"]["labels"]["deployment"] == "checkout" and first["decision"]["outcome"] == "act"
    assert first["status"] == "succeeded" and first["changes"]

    _, by_rule = await api.get("/executions?rule=scale-workers")
    assert [e["rule"] for e in by_rule["executions"]] == ["scale-workers"]
    _, by_target = await api.get("/executions?target=shop/search")
    assert [e["target"] for e in by_target["executions"]] == ["shop/Deployment/search"]
    _, by_key = await api.get("/executions?target=" + urllib.parse.quote("shop/Deployment/checkout"))
    assert len(by_key["executions"]) == 1
    _, planned = await api.get("/executions?outcome=planned")
    assert [e["rule"] for e in planned["executions"]] == ["scale-workers"]
    _, recent = await api.get("/executions?since=1m")
    assert len(recent["executions"]) == 4
    api.clock.advance(3600)
    _, old = await api.get("/executions?since=30m")
    assert old["executions"] == []
    since = (api.clock.now() - timedelta(hours=2)).isoformat()
    _, iso = await api.get("/executions", params={"since": since})
    assert len(iso["executions"]) == 4
    status, _ = await api.get("/executions?outcome=great")
    assert status == 400


# -- approvals --------------------------------------------------------------------------------------------


async def test_approve_decides_again_and_acts(api: Api) -> None:
    await api.alert(am_alert("CacheStale"))
    status, body = await api.get("/approvals?status=pending", token=READER)
    [pending] = body["approvals"]
    assert pending["rule"] == "flush-cache" and pending["target"] == "shop/Deployment/checkout"
    assert not [w for w in api.kube.writes if w.method == "PATCH"]

    status, _ = await api.post(f"/approvals/{pending['id']}/approve", {"reason": "ok"}, token=READER)
    assert status == 403
    status, body = await api.post(f"/approvals/{pending['id']}/approve", {"reason": "checked dashboards"})
    assert status == 200, body
    assert body["approval"]["status"] == "approved" and body["approval"]["decided_by"] == ADMIN_NAME
    assert body["decision"]["outcome"] == "act"
    assert body["decision"]["reason"].startswith(f"approved by {ADMIN_NAME} (approval #{pending['id']})")
    await api.app.drained()
    assert len([w for w in api.kube.writes if w.method == "PATCH"]) == 1
    _, ex = await api.get(f"/executions/{body['execution_id']}")
    assert ex["status"] == "succeeded" and ex["who"] == ADMIN_NAME and ex["via"] == "approval"

    status, body = await api.post(f"/approvals/{pending['id']}/approve", {})
    assert status == 409 and f"approved by {ADMIN_NAME}" in body["error"]
    status, body = await api.post("/approvals/999/approve", {})
    assert status == 404


async def test_approval_keeps_other_guards_in_force(api: Api) -> None:
    await api.alert(am_alert("CacheStale"))
    [pending] = (await api.get("/approvals"))[1]["approvals"]
    await api.post("/pause", {"reason": "freeze"})
    status, body = await api.post(f"/approvals/{pending['id']}/approve", {"reason": "go"})
    assert status == 200 and body["decision"]["outcome"] == "paused" and body["execution_id"] is None
    assert not [w for w in api.kube.writes if w.method == "PATCH"]


async def test_reject_and_expired(api: Api) -> None:
    await api.alert(am_alert("CacheStale"), am_alert("CacheStale", deployment="search"))
    _, body = await api.get("/approvals?status=pending")
    first, second = sorted(a["id"] for a in body["approvals"])
    status, body = await api.post(f"/approvals/{first}/reject", {})
    assert status == 400 and body["detail"] == ["reason: Field required"]
    status, body = await api.post(f"/approvals/{first}/reject", {"reason": "not during the sale"})
    assert status == 200 and body["approval"]["status"] == "rejected"
    assert body["approval"]["note"] == "not during the sale"
    status, body = await api.post(f"/approvals/{first}/approve", {})
    assert status == 409 and "rejected" in body["error"]

    api.clock.advance(2 * 3600)
    status, body = await api.post(f"/approvals/{second}/approve", {})
    assert status == 409 and "expired" in body["error"]
    assert not [w for w in api.kube.writes if w.method == "PATCH"]
    _, audit = await api.get("/audit")
    assert [a["action"] for a in audit["audit"]] == ["reject"]


# -- breakers ---------------------------------------------------------------------------------------------


async def test_breakers_list_and_reset(api: Api) -> None:
    target = "shop/Deployment/checkout"
    now = api.clock.now()
    api.app.breaker.load([("restart-on-errors", target, False, now)] * 3, api.app.rules.get)
    status, body = await api.get("/breakers", token=READER)
    [b] = body["breakers"]
    assert b["key"] == f"restart-on-errors:{target}" and b["state"] == "open" and b["failures"] == 3
    _, st = await api.get("/status")
    assert st["breakers"]["open"] == 1
    assert metric(await api.metrics(), "remediator_circuit_breaker_state", rule="restart-on-errors") == 2

    status, _ = await api.post("/reload", {"reason": "a reload keeps the breakers' gauge"})
    assert status == 200
    assert metric(await api.metrics(), "remediator_circuit_breaker_state", rule="restart-on-errors") == 2

    key = urllib.parse.quote(b["key"], safe="")
    status, body = await api.post(f"/breakers/{key}/reset", {"reason": "fixed by hand"}, token=READER)
    assert status == 403
    status, body = await api.post(f"/breakers/{key}/reset", {"reason": "fixed by hand"})
    assert status == 200 and body["was"]["state"] == "open"
    assert (await api.get("/breakers"))[1]["breakers"] == []
    assert metric(await api.metrics(), "remediator_circuit_breaker_state", rule="restart-on-errors") == 0
    status, body = await api.post(f"/breakers/{key}/reset", {"reason": "again"})
    assert status == 404
    _, audit = await api.get("/audit?action=breaker_reset")
    assert audit["audit"][0]["detail"] == {
        "rule": "restart-on-errors",
        "target": target,
        "was": "open",
        "reason": "fixed by hand",
    }
