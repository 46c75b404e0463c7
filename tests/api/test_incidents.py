"""Incidents: alert episodes, their timelines in time order, and the postmortem draft."""

from __future__ import annotations

from datetime import timedelta

from remediator.override.incidents import postmortem_markdown, with_durations
from tests.api.conftest import READER, Api, am_alert
from tests.scenarios.conftest import FIXTURES_NOW


async def test_an_episode_from_firing_to_resolved(api: Api) -> None:
    fired = am_alert(severity="critical")
    await api.alert(fired)
    api.clock.advance(60)
    await api.alert(fired)  # Alertmanager re-sends it: same episode, a duplicate decision
    api.clock.advance(540)
    await api.alert(am_alert(severity="critical", status="resolved"))
    await api.alert(
        am_alert("HighErrorRate", deployment="search", severity="critical", starts_at=FIXTURES_NOW)
    )

    status, body = await api.get("/incidents", token=READER)
    assert status == 200
    assert [i["labels"]["deployment"] for i in body["incidents"]] == ["search", "checkout"]
    checkout = body["incidents"][1]
    assert checkout["status"] == "resolved" and checkout["alerts"] == 3
    assert checkout["id"] == f"{checkout['fingerprint']}-{int(FIXTURES_NOW.timestamp())}"
    assert checkout["severity"] == "critical" and checkout["alertname"] == "HighErrorRate"

    _, firing = await api.get("/incidents?status=firing")
    assert [i["labels"]["deployment"] for i in firing["incidents"]] == ["search"]
    _, page = await api.get("/incidents?limit=1")
    assert len(page["incidents"]) == 1 and page["next"]
    _, rest = await api.get(f"/incidents?limit=1&cursor={page['next']}")
    assert [i["id"] for i in rest["incidents"]] == [checkout["id"]] and rest["next"] is None

    status, tl = await api.get(f"/incidents/{checkout['id']}/timeline")
    assert status == 200, tl
    kinds = [(e["type"], e.get("status") or e.get("outcome") or e.get("moment")) for e in tl["events"]]
    assert kinds == [
        ("alert", "firing"),
        ("decision", "act"),
        ("execution", "succeeded"),
        ("evidence", "before acting"),
        ("evidence", "after rollout_restart"),
        ("alert", "firing"),
        ("decision", "duplicate"),
        ("alert", "resolved"),
        ("decision", "resolved"),
    ]
    ats = [e["at"] for e in tl["events"]]
    assert ats == sorted(ats)
    assert tl["status"] == "resolved" and tl["duration_s"] == 600 and tl["ongoing"] is False
    assert tl["title"] == "HighErrorRate on shop/checkout"
    assert tl["actions_taken"] == [
        "restart-on-errors: rollout_restart on shop/Deployment/checkout -> succeeded"
    ]

    resp = await api.client.get(
        f"/api/v1/incidents/{checkout['id']}/timeline?format=markdown",
        headers={"Authorization": f"Bearer {READER}"},
    )
    assert resp.status == 200 and resp.content_type == "text/markdown"
    md = await resp.text()
    for heading in ("# Postmortem: HighErrorRate on shop/checkout", "## Summary", "## Timeline", "## Impact"):
        assert heading in md
    assert "## Root cause" in md and "## Action items" in md
    assert "- **Duration:** 10m" in md and "- **Severity:** critical" in md
    assert f"- **Date:** {FIXTURES_NOW:%Y-%m-%d}" in md
    assert "rollout_restart on shop/Deployment/checkout -> succeeded" in md
    assert "Alert resolved" in md
    assert "## Evidence" in md and "UTC: before acting (shop/Deployment/checkout, execution #" in md
    assert "Evidence after rollout_restart (execution \\#" in md


async def test_unknown_incident_and_bad_format(api: Api) -> None:
    status, body = await api.get("/incidents/abc-123/timeline")
    assert status == 404 and body["error"].startswith("no incident")
    status, _ = await api.get("/incidents/no-dash-digits/timeline")
    assert status == 404
    await api.alert(am_alert(severity="critical"))
    _, body = await api.get("/incidents")
    status, body = await api.get(f"/incidents/{body['incidents'][0]['id']}/timeline?format=pdf")
    assert status == 400 and "format" in body["error"]


def test_markdown_keeps_tables_intact() -> None:
    start = FIXTURES_NOW
    timeline = {
        "id": "abc-1",
        "fingerprint": "abc",
        "alertname": "Weird",
        "labels": {"namespace": "shop", "service": "a|b"},
        "annotations": {"summary": "pipes | and\nnewlines"},
        "starts_at": start.isoformat(),
        "ends_at": None,
        "status": "firing",
        "events": [
            {
                "type": "alert",
                "at": start.isoformat(),
                "status": "firing",
                "summary": "pipes | and\nnewlines",
                "value": None,
            },
            {
                "type": "decision",
                "at": start.isoformat(),
                "rule": "r",
                "target": None,
                "outcome": "condition_false",
                "reason": "x | y",
            },
        ],
    }
    md = postmortem_markdown(with_durations(timeline, now=start + timedelta(minutes=5)))
    rows = [line for line in md.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and all(row.count(" | ") == 1 for row in rows)
    assert "(ongoing)" in md and "remediator took no action (decisions: condition_false)" in md


async def test_a_manual_triggers_incident_closes_when_its_execution_ends(api: Api) -> None:
    """No Alertmanager resolves an alert a human made up: the incident closes with its execution."""
    body = {"target": {"namespace": "shop", "name": "checkout"}, "dry_run": False, "reason": "fix now"}
    status, rec = await api.post("/rules/restart-on-errors/trigger", body)
    assert status == 200 and rec["decision"]["outcome"] == "act", rec
    await api.app.drained()
    _, listed = await api.get("/incidents")
    [incident] = listed["incidents"]
    assert incident["source"] == "manual" and incident["status"] == "resolved"
    _, tl = await api.get(f"/incidents/{incident['id']}/timeline")
    assert tl["ongoing"] is False
    closing = [e for e in tl["events"] if e["type"] == "alert" and e["status"] == "resolved"]
    assert [e["summary"] for e in closing] == [
        "closed: the manual trigger's rollout_restart on shop/Deployment/checkout ended succeeded"
    ]
    _, firing = await api.get("/incidents?status=firing")
    assert firing["incidents"] == []


async def test_a_manual_trigger_that_does_not_act_closes_at_once(api: Api) -> None:
    body = {"target": {"namespace": "shop", "name": "checkout"}, "dry_run": False, "reason": "fix now"}
    await api.post("/rules/restart-on-errors/trigger", body)
    await api.app.drained()
    api.clock.advance(10)
    status, again = await api.post("/rules/restart-on-errors/trigger", body)  # in the 2m cooldown
    assert status == 200 and again["decision"]["outcome"] == "cooldown" and again["execution_id"] is None
    _, listed = await api.get("/incidents")
    assert [i["status"] for i in listed["incidents"]] == ["resolved", "resolved"]
    _, tl = await api.get(f"/incidents/{listed['incidents'][0]['id']}/timeline")
    closing = [e["summary"] for e in tl["events"] if e["type"] == "alert" and e["status"] == "resolved"]
    assert closing == ["closed: the manual trigger decided cooldown"]


async def test_a_dry_run_triggers_incident_closes_when_its_plan_is_recorded(api: Api) -> None:
    status, rec = await api.post(
        "/rules/restart-on-errors/trigger", {"target": {"namespace": "shop", "name": "search"}}, token=READER
    )
    assert status == 200 and rec["decision"]["outcome"] == "dry_run"
    await api.app.drained()
    _, listed = await api.get("/incidents")
    assert [(i["labels"]["deployment"], i["status"]) for i in listed["incidents"]] == [("search", "resolved")]


def test_labels_and_annotations_cannot_inject_markdown_or_html() -> None:
    """Alert sources are not trusted: a label cannot add a heading, an image, a link or a script."""
    start = FIXTURES_NOW
    hostile = {
        "alertname": "X\n# Pwned\n![img](https://evil.example/x.png)",
        "namespace": "<script>alert(1)</script>",
        "deployment": "[click](https://evil.example) | `code`",
        "severity": "- list\n> quote",
    }
    timeline = {
        "id": "fp`x-1",
        "fingerprint": "fp`x",
        "alertname": hostile["alertname"],
        "labels": hostile,
        "annotations": {"summary": "**bold** _em_ <img src=x onerror=alert(1)>\n\n## Injected"},
        "starts_at": start.isoformat(),
        "ends_at": None,
        "status": "firing",
        "events": [
            {
                "type": "alert",
                "at": start.isoformat(),
                "status": "firing",
                "summary": "1. <b>x</b>",
                "value": None,
            }
        ],
    }
    md = postmortem_markdown(with_durations(timeline, now=start + timedelta(minutes=1)))
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == [
        headings[0],
        "## Summary",
        "## Timeline",
        "## Evidence",
        "## Impact",
        "## Root cause",
        "## Action items",
    ]
    assert "\n#" not in headings[0]
    for raw in (
        "<script",
        "<img",
        "![img]",
        "[click](",
        "**bold**",
        "\n> quote",
        "\n- list",
        "\n## Injected",
    ):
        assert raw not in md, raw
    assert "&lt;script>" in md and "\\!" not in md and "!\\[img\\]" in md
    table = [line for line in md.splitlines() if line.startswith("| 20")]
    assert len(table) == 1 and table[0].count(" | ") == 1
    assert "``fp`x``" in md.replace("`` fp`x ``", "``fp`x``")
