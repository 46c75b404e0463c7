"""Evidence from the fake cluster: pods, restarts, events, failing pods' logs, rollout history; redacted."""

from __future__ import annotations

from remediator.actions.kube import KubeActions
from remediator.actions.kube.evidence import EvidenceBounds
from remediator.actions.redact import last_lines, redact
from remediator.clock import FakeClock
from remediator.testing.fake_kube import FakeKubeServer
from tests.actions.test_kube import deploy, spec


async def test_evidence_of_a_crash_looping_deployment(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v2", revisions=["api:v1"], replicas=3)
    fake_kube.complete_rollouts()
    [crashing, *_] = fake_kube.set_pod_outcome(
        "crash",
        namespace="shop",
        selector="app=api",
        log="starting\nconnecting to postgres://app:s3cr3t@db:5432/app\npanic: pool exhausted",
    )
    await clock.sleep(120)  # a few restarts
    await kube_actions.execute(spec("rollout_restart", unless_rolled_out_within=None), deploy("api"))
    fake_kube.complete_rollouts()  # the Deployment controller has made revision 3's ReplicaSet

    ev = await kube_actions.evidence(deploy("api"), EvidenceBounds(log_lines=2, max_failing_pods=1))

    assert ev["target"] == "shop/Deployment/api"
    assert {p["name"] for p in ev["pods"]} >= {crashing}
    first = ev["pods"][0]
    assert first["restarts"] > 0 and first["ready"] is False
    assert "CrashLoopBackOff" in first["waiting"]
    [log] = ev["logs"]
    assert log["previous"] is True, "a crash loop's useful log is the previous container's"
    assert log["lines"] == ["connecting to postgres://app:[REDACTED]@db:5432/app", "panic: pool exhausted"]
    assert [h["revision"] for h in ev["history"]] == [3, 2, 1], "the restart is revision 3"
    assert [h["images"] for h in ev["history"]] == [["api:v2"], ["api:v2"], ["api:v1"]]
    assert any(e["reason"] == "Remediated" and "restarted" in e["message"] for e in ev["events"]), ev[
        "events"
    ]
    [backoff] = [e for e in ev["events"] if e["object"] == f"Pod/{crashing}"]
    assert (backoff["type"], backoff["reason"]) == ("Warning", "BackOff"), "the kubelet's, before acting"
    assert backoff["message"].startswith("Back-off restarting failed container ") and backoff["count"] > 1
    assert ev["notes"] == []


async def test_evidence_bounds_and_unreadable_parts(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1", replicas=5)
    fake_kube.complete_rollouts()
    ev = await kube_actions.evidence(deploy("api"), EvidenceBounds(max_pods=2))
    assert len(ev["pods"]) == 2 and ev["notes"] == ["3 more pods not listed"]
    assert ev["logs"] == [], "healthy pods: no logs read"
    gone = await kube_actions.evidence(deploy("nope"), EvidenceBounds())
    assert gone["notes"] and gone["notes"][0].startswith(
        "workload unreadable: deployments.apps 'nope' not found"
    )


def test_redaction_patterns() -> None:
    bearer = redact("Authorization: Bearer abcdefghijklmnop")
    assert bearer.startswith("Authorization: [REDACTED]") and "abcdefgh" not in bearer
    assert redact("PGPASSWORD=hunter2 psql") == "PGPASSWORD=[REDACTED] psql"
    assert redact('{"api_key": "k-123", "user": "bob"}') == '{"api_key": [REDACTED], "user": "bob"}'
    assert redact("redis://:pw@redis:6379/0") == "redis://:[REDACTED]@redis:6379/0"
    assert redact("https://user:pa55@host/x") == "https://user:[REDACTED]@host/x"
    assert redact("AKIAABCDEFGHIJKLMNOP") == "[REDACTED]"
    assert redact("nothing to see") == "nothing to see"
    assert last_lines("a\nb\x1b[31mred\nc", 2) == ["b\\x1b[31mred", "c"]
