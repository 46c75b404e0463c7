"""Every human decision survives a restart, SIGTERM or SIGKILL, between being made and being used.

A daemon in a subprocess against the fake cluster: before the restart an on-call pauses one rule
(for an hour), puts another in dry-run, resets a breaker that a failure opened, leaves an approval
pending, and PagerDuty has an open incident from a failed action and has delivered a webhook. After
the restart each is used: the paused rule does not act, the dry-run rule only plans, the reset breaker
lets the next alert act, the approval is approved and acts (a re-sent alert did not ask twice), the
open PagerDuty incident is resolved when its alert resolves, and the webhook's retry is a duplicate.
"""

from __future__ import annotations

import json
import signal
import textwrap
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediator.store.sqlite import SqliteJournal
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.daemon import SIGNALS, Daemon, Sink, wait_until

RULES = """
rules:
  - name: restart-paused
    match: ['alertname = "Paused"']
    target: {kind: Deployment, namespace: shop, name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
  - name: restart-dry
    match: ['alertname = "Dry"']
    target: {kind: Deployment, namespace: shop, name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
  - name: restart-breaker
    match: ['alertname = "Breaker"']
    target: {kind: Deployment, namespace: shop, name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
    guards: {cooldown: 0s, circuit_breaker: {failures: 1, reset_after: 1h}}
  - name: restart-escalate
    match: ['alertname = "Escalate"']
    target: {kind: Deployment, namespace: shop, name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
    on_failure: [{escalate: {to: pagerduty}}]
  - name: restart-approval
    match: ['alertname = "Approval"']
    target: {kind: Deployment, namespace: shop, name: "{{ labels.deployment }}"}
    actions: [rollout_restart]
    guards: {approval: true}
"""


def alert(name: str, deployment: str, *, starts_at: datetime, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "namespace": "shop", "deployment": deployment},
        "annotations": {},
        "startsAt": starts_at.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else datetime.now(UTC).isoformat(),
        "generatorURL": "",
    }


async def pending(daemon: Daemon) -> list[dict[str, Any]]:
    return list((await daemon.api("GET", "/approvals?status=pending"))["approvals"])


async def open_breakers(daemon: Daemon) -> list[dict[str, Any]]:
    return [b for b in (await daemon.api("GET", "/breakers"))["breakers"] if b["state"] == "open"]


def patches(kube: FakeKubeServer, name: str) -> int:
    return sum(1 for r in kube.requests if r.method == "PATCH" and r.path.endswith(f"/deployments/{name}"))


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_human_decisions_hold_across_a_restart(
    tmp_path: Path, examples_dir: Path, sig: signal.Signals
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(textwrap.dedent(RULES))
    journal = tmp_path / "journal.sqlite"
    pd_body = (examples_dir / "pagerduty" / "incident-acknowledged.json").read_bytes()
    t0 = datetime.now(UTC) - timedelta(seconds=5)
    async with FakeKubeServer() as kube, Sink().running() as sink:
        for name in ("a", "b", "c", "d", "e"):
            kube.add_deployment("shop", name, image=f"{name}:v1")
        config = tmp_path / "remediator.yaml"
        config.write_text(
            f"journal: {{path: {journal}}}\n"
            f"kubernetes: {{mode: kubeconfig, kubeconfig: {kube.write_kubeconfig(tmp_path / 'kc')}}}\n"
            f"pagerduty: {{events_url: {sink.url}/v2/enqueue}}\n"
            "guards: {retry: {attempts: 1}}\n"
            f"rules: [{rules}]\n"
        )
        daemon = Daemon(config, tmp_path / "daemon.log")
        await daemon.start()
        try:
            # A failure opens restart-breaker's breaker; another pages PagerDuty.
            kube.inject(status=403, method="PATCH", path="/deployments/c$")
            kube.inject(status=403, method="PATCH", path="/deployments/d$")
            await daemon.alert(alert("Breaker", "c", starts_at=t0), alert("Escalate", "d", starts_at=t0))
            await wait_until("the page", lambda: sink.events())
            [breaker] = await wait_until("the breaker to open", lambda: open_breakers(daemon))
            assert breaker["rule"] == "restart-breaker"
            # The humans' decisions.
            await daemon.api("POST", "/pause", {"reason": "migration", "rule": "restart-paused", "for": "1h"})
            await daemon.api("POST", "/dry-run", {"enabled": True, "rule": "restart-dry", "reason": "trial"})
            key = urllib.parse.quote(breaker["key"], safe="")
            await daemon.api("POST", f"/breakers/{key}/reset", {"reason": "fixed by hand"})
            await daemon.alert(alert("Approval", "e", starts_at=t0))
            [approval] = await wait_until("the approval", lambda: pending(daemon))
            assert (await daemon.pagerduty(pd_body, delivery_id="delivery-1"))["status"] == "accepted"
            status = await daemon.api("GET", "/status")
        finally:
            daemon.stop(sig)

        await daemon.start()
        try:
            after = await daemon.api("GET", "/status")
            assert after["paused_rules"] == status["paused_rules"], "the pause and its expiry are back"
            assert after["paused_rules"]["restart-paused"]["until"] is not None
            t1 = datetime.now(UTC)
            await daemon.alert(
                alert("Paused", "a", starts_at=t1),
                alert("Dry", "b", starts_at=t1),
                alert("Breaker", "c", starts_at=t1),
                alert("Approval", "e", starts_at=t0),  # re-sent: the same episode
            )
            await wait_until("restart-breaker to act again", lambda: patches(kube, "c") == 2)
            assert [a["id"] for a in await pending(daemon)] == [approval["id"]], (
                "a re-sent alert does not ask a human twice"
            )
            await daemon.api("POST", f"/approvals/{approval['id']}/approve", {"reason": "go"})
            await wait_until("the approved restart", lambda: patches(kube, "e") == 1)
            await daemon.alert(alert("Escalate", "d", starts_at=t0, status="resolved"))
            await wait_until("the page to be resolved", lambda: len(sink.events()) == 2)
            again = await daemon.pagerduty(pd_body, delivery_id="delivery-1")
            assert again["status"] == "duplicate"
            planned = await daemon.api("GET", "/executions?rule=restart-dry")
        finally:
            daemon.stop(signal.SIGTERM)

    trigger, resolve = sink.events()
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert resolve["dedup_key"] == trigger["dedup_key"]
    assert patches(kube, "a") == 0, "the paused rule did not act after the restart"
    assert patches(kube, "b") == 0 and [e["dry_run"] for e in planned["executions"]] == [True]
    async with SqliteJournal.open(journal) as j:
        outcomes = {(d["rule"], d["outcome"]) for d in await j.decisions()}
        assert ("restart-paused", "paused") in outcomes
        assert ("restart-breaker", "breaker_open") not in outcomes
        assert len(await j.approvals()) == 1
        assert await j.count("payloads") == 5, json.dumps(await j.decisions(), default=str)
