"""KubeActions through the real kubernetes-asyncio client against the fake API server.

Each action is checked on the wire (method, path, content type, body) and by the state it leaves, and
plan() is checked to write nothing while predicting exactly the changes execute() then makes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediator.actions.kube import KubeActions, open_kube, static_plan
from remediator.actions.kube.diff import diff
from remediator.actions.kube.kubectl import rollback_annotations, scale_target
from remediator.actions.kube.rollout import RolloutStatus, rollout_status_of
from remediator.clock import FakeClock
from remediator.config import KubeSettings
from remediator.errors import (
    ConfigError,
    NotApplicableError,
    PermanentActionError,
    TransientActionError,
    TryLaterError,
)
from remediator.kubenames import label_selector
from remediator.model import ActionKind, ActionResult, ActionSpec, Change, Target, WorkloadKind
from remediator.testing.fake_kube import FakeKubeServer

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"


def deploy(name: str, kind: WorkloadKind = "Deployment", namespace: str = "shop") -> Target:
    return Target(kind=kind, namespace=namespace, name=name)


def spec(kind: ActionKind, **params: Any) -> ActionSpec:
    return ActionSpec(kind=kind, params=params)


def body(request: Any) -> Any:
    raw = request.body
    if isinstance(raw, bytes | str):
        return json.loads(raw) if raw else None
    return raw


def action_writes(fake: FakeKubeServer) -> list[Any]:
    """Writes other than the best-effort Event that follows every execute."""
    return [w for w in fake.writes if "/events" not in w.path]


def containers(obj: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert obj is not None
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def env_of(obj: dict[str, Any] | None, container: str = "app") -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in containers(obj)[container].get("env") or []}


async def plan_then_execute(
    fake: FakeKubeServer, kube: KubeActions, action: ActionSpec, target: Target
) -> tuple[ActionResult, ActionResult]:
    planned = await kube.plan(action, target)
    assert fake.writes == [], "plan() must not write"
    assert not planned.applied
    done = await kube.execute(action, target)
    assert done.applied
    assert done.changes == planned.changes, "plan() must predict exactly what execute() changes"
    return planned, done


# -- rollout_restart --------------------------------------------------------------------------------------


async def test_restart_is_a_strategic_merge_patch_of_the_restarted_at_annotation(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart", template_annotations={"keep": "me"})
    read = fake_kube.get("Deployment", "shop", "cart")["metadata"]["resourceVersion"]  # type: ignore[index]
    _, done = await plan_then_execute(fake_kube, kube_actions, spec("rollout_restart"), deploy("cart"))

    [patch] = action_writes(fake_kube)
    assert (patch.method, patch.path) == ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/cart")
    assert patch.content_type == "application/strategic-merge-patch+json"
    # kubectl's patch, conditional on the version it was computed from (a late retry must not land).
    assert body(patch) == {
        "metadata": {"resourceVersion": read},
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-03-01T12:00:00Z"}}}},
    }
    annotations = fake_kube.get("Deployment", "shop", "cart")["spec"]["template"]["metadata"]["annotations"]  # type: ignore[index]
    assert annotations == {"keep": "me", RESTARTED_AT: "2026-03-01T12:00:00Z"}
    assert done.changes == (
        Change(
            path=f"spec.template.metadata.annotations[{RESTARTED_AT}]",
            before=None,
            after="2026-03-01T12:00:00Z",
        ),
    )
    assert done.summary.startswith("restarted shop/Deployment/cart")


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
async def test_restart_statefulsets_and_daemonsets(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, kind: WorkloadKind
) -> None:
    add = fake_kube.add_statefulset if kind == "StatefulSet" else fake_kube.add_daemonset
    add("shop", "db")
    await plan_then_execute(fake_kube, kube_actions, spec("rollout_restart"), deploy("db", kind))
    [patch] = action_writes(fake_kube)
    assert patch.path.endswith(f"/{kind.lower()}s/db")
    template = fake_kube.get(kind, "shop", "db")["spec"]["template"]  # type: ignore[index]
    assert RESTARTED_AT in template["metadata"]["annotations"]


async def test_restart_refuses_a_paused_deployment(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "cart", paused=True)
    with pytest.raises(PermanentActionError, match="can't restart paused deployment"):
        await kube_actions.plan(spec("rollout_restart"), deploy("cart"))
    with pytest.raises(PermanentActionError, match="can't restart paused deployment"):
        await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    assert fake_kube.writes == []


async def test_restart_twice_in_the_same_second_is_not_applicable(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart")
    await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    with pytest.raises(NotApplicableError, match="already restarted"):
        await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    clock.advance(1)
    again = await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    assert again.changes[0].before == "2026-03-01T12:00:00Z"
    assert again.changes[0].after == "2026-03-01T12:00:01Z"


async def test_execute_records_an_event_on_the_target(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "cart")
    done = await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    [post] = [w for w in fake_kube.writes if "/events" in w.path]
    assert post.path == "/apis/events.k8s.io/v1/namespaces/shop/events"
    event = body(post)
    assert event["reason"] == "Remediated"
    assert event["reportingController"] == "remediator.io/remediator"
    assert event["eventTime"] == "2026-03-01T12:00:00.000000Z"
    assert event["regarding"]["kind"] == "Deployment"
    assert event["regarding"]["name"] == "cart"
    assert event["regarding"]["uid"] == fake_kube.get("Deployment", "shop", "cart")["metadata"]["uid"]  # type: ignore[index]
    assert event["note"] == done.summary
    assert fake_kube.list("Event", "shop"), "the fake stores the event"


async def test_a_failed_event_never_fails_the_action(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "cart")
    fake_kube.inject(status=403, method="POST", path=r"/events$")
    done = await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    assert done.applied
    assert len(action_writes(fake_kube)) == 1


# -- rollout_undo -----------------------------------------------------------------------------------------


def revisions_by_image(fake: FakeKubeServer, namespace: str = "shop") -> dict[str, int]:
    out: dict[str, int] = {}
    for rs in fake.list("ReplicaSet", namespace):
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        out[image] = int(rs["metadata"]["annotations"][REVISION])
    return out


async def test_undo_returns_to_the_previous_image_with_a_guarded_json_patch(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment(
        "shop", "checkout", image="checkout:v3", revisions=["checkout:v1", "checkout:v2"]
    )
    before = fake_kube.get("Deployment", "shop", "checkout")
    assert before is not None
    assert revisions_by_image(fake_kube) == {"checkout:v1": 1, "checkout:v2": 2, "checkout:v3": 3}

    _, done = await plan_then_execute(fake_kube, kube_actions, spec("rollout_undo"), deploy("checkout"))

    [patch] = action_writes(fake_kube)
    assert patch.content_type == "application/json-patch+json"
    ops = body(patch)
    assert ops[0] == {
        "op": "test",
        "path": "/metadata/resourceVersion",
        "value": before["metadata"]["resourceVersion"],
    }
    assert [(op["op"], op["path"]) for op in ops[1:]] == [
        ("replace", "/spec/template"),
        ("replace", "/metadata/annotations"),
    ]
    assert "pod-template-hash" not in (ops[1]["value"]["metadata"].get("labels") or {})
    assert containers(fake_kube.get("Deployment", "shop", "checkout"))["app"]["image"] == "checkout:v2"
    assert (
        Change(path="spec.template.spec.containers[app].image", before="checkout:v3", after="checkout:v2")
        in done.changes
    )
    assert done.summary == (
        "rolled back shop/Deployment/checkout from revision 3 (checkout:v3) to revision 2 (checkout:v2)"
    )
    # On its next pass the controller re-uses the v2 ReplicaSet and gives it the next revision.
    assert revisions_by_image(fake_kube)["checkout:v2"] == 2
    clock.advance(1)
    assert revisions_by_image(fake_kube)["checkout:v2"] == 4


async def test_undo_to_a_given_revision(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment(
        "shop", "checkout", image="checkout:v3", revisions=["checkout:v1", "checkout:v2"]
    )
    await kube_actions.execute(spec("rollout_undo", to_revision=1), deploy("checkout"))
    assert containers(fake_kube.get("Deployment", "shop", "checkout"))["app"]["image"] == "checkout:v1"
    clock.advance(1)  # the controller observed the undo: the history is current again
    with pytest.raises(NotApplicableError, match="revision 9 not found"):
        await kube_actions.plan(spec("rollout_undo", to_revision=9), deploy("checkout"))


async def test_undo_only_if_rolled_out_within_skips_an_old_rollout(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment(
        "shop",
        "checkout",
        image="checkout:v2",
        revisions=["checkout:v1"],
        rolled_out_at=clock.now() - timedelta(hours=3),
    )
    action = spec("rollout_undo", only_if_rolled_out_within=7200.0)
    with pytest.raises(NotApplicableError, match=r"^last rollout 3h ago, not within 2h$"):
        await kube_actions.plan(action, deploy("checkout"))
    with pytest.raises(NotApplicableError, match="last rollout 3h ago"):
        await kube_actions.execute(action, deploy("checkout"))
    assert fake_kube.writes == []


async def test_undo_only_if_rolled_out_within_acts_on_a_recent_rollout(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment(
        "shop",
        "checkout",
        image="checkout:v2",
        revisions=["checkout:v1"],
        rolled_out_at=clock.now() - timedelta(minutes=10),
    )
    await kube_actions.execute(spec("rollout_undo", only_if_rolled_out_within=7200.0), deploy("checkout"))
    assert containers(fake_kube.get("Deployment", "shop", "checkout"))["app"]["image"] == "checkout:v1"


async def test_undo_without_history_is_not_applicable(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", image="checkout:v1")
    with pytest.raises(NotApplicableError, match=r"^no rollout history found$"):
        await kube_actions.execute(spec("rollout_undo"), deploy("checkout"))
    assert fake_kube.writes == []


async def test_undo_refuses_a_paused_deployment(fake_kube: FakeKubeServer, kube_actions: KubeActions) -> None:
    fake_kube.add_deployment("shop", "checkout", image="checkout:v2", revisions=["checkout:v1"], paused=True)
    with pytest.raises(PermanentActionError, match="paused"):
        await kube_actions.execute(spec("rollout_undo"), deploy("checkout"))
    assert fake_kube.writes == []


async def test_undo_is_for_deployments_only(fake_kube: FakeKubeServer, kube_actions: KubeActions) -> None:
    fake_kube.add_statefulset("shop", "db")
    with pytest.raises(PermanentActionError, match="only Deployments"):
        await kube_actions.plan(spec("rollout_undo"), deploy("db", "StatefulSet"))


async def test_undo_ignores_replicasets_another_deployment_controls(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    # Same labels, so the selector matches both; only the ownerReference tells them apart.
    fake_kube.add_deployment("shop", "a", image="a:v2", revisions=["a:v1"], labels={"app": "shared"})
    fake_kube.add_deployment("shop", "b", image="b:v1", labels={"app": "shared"})
    with pytest.raises(NotApplicableError, match="no rollout history"):
        await kube_actions.plan(spec("rollout_undo"), deploy("b"))
    planned = await kube_actions.plan(spec("rollout_undo"), deploy("a"))
    assert "a:v1" in planned.summary


# -- scale ------------------------------------------------------------------------------------------------


async def test_scale_uses_the_scale_subresource_with_a_merge_patch(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "search", replicas=4)
    _, done = await plan_then_execute(fake_kube, kube_actions, spec("scale", by=2, max=20), deploy("search"))
    reads = [r for r in fake_kube.requests if r.method == "GET" and r.path.endswith("/scale")]
    assert reads, "the current count is read from the scale subresource"
    [patch] = action_writes(fake_kube)
    assert (patch.method, patch.path) == ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/search/scale")
    assert patch.content_type == "application/merge-patch+json"
    assert body(patch)["spec"] == {"replicas": 6}
    # The resourceVersion read with the count rides along as a precondition: a changed count means 409.
    assert body(patch)["metadata"]["resourceVersion"]
    assert fake_kube.get("Deployment", "shop", "search")["spec"]["replicas"] == 6  # type: ignore[index]
    assert done.changes == (Change(path="spec.replicas", before=4, after=6),)
    assert done.summary == "scaled shop/Deployment/search 4 -> 6 (max 20)"


async def test_scale_racing_another_writer_is_a_conflict_not_a_lost_update(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "search", replicas=4)
    # Hold our PATCH while someone else changes the Deployment in between our read and our write.
    fake_kube.inject(status=0, method="PATCH", path=r"/deployments/search/scale$", delay=0.5)
    ours = asyncio.create_task(kube_actions.execute(spec("scale", by=2), deploy("search")), name="scale")
    await asyncio.sleep(0.1)
    await kube_actions.execute(spec("set_env", name="A", value="1"), deploy("search"))
    with pytest.raises(TransientActionError, match="conflict"):
        await ours
    assert fake_kube.get("Deployment", "shop", "search")["spec"]["replicas"] == 4  # type: ignore[index]


@pytest.mark.parametrize(
    ("replicas", "params", "expected"),
    [
        (4, {"to": 50, "max": 20}, 20),
        (4, {"by": -10, "min": 2}, 2),
        (4, {"to": 0}, 1),
        (4, {"to": 0, "min": 3}, 3),
        (4, {"to": 0, "allow_zero": True}, 0),
        (3, {"factor": 1.5}, 5),
        (10, {"factor": 1.1}, 11),
    ],
)
async def test_scale_clamps(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, replicas: int, params: dict[str, Any], expected: int
) -> None:
    fake_kube.add_deployment("shop", "search", replicas=replicas)
    await plan_then_execute(fake_kube, kube_actions, spec("scale", **params), deploy("search"))
    assert fake_kube.get("Deployment", "shop", "search")["spec"]["replicas"] == expected  # type: ignore[index]


async def test_scale_already_at_the_bound_is_not_applicable(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "search", replicas=20)
    with pytest.raises(NotApplicableError, match=r"^already at 20 replicas \(max 20\)$"):
        await kube_actions.execute(spec("scale", by=5, max=20), deploy("search"))
    assert fake_kube.writes == []


async def test_scale_statefulset_and_refuse_daemonset(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_statefulset("shop", "db", replicas=3)
    await kube_actions.execute(spec("scale", to=5), deploy("db", "StatefulSet"))
    assert fake_kube.get("StatefulSet", "shop", "db")["spec"]["replicas"] == 5  # type: ignore[index]
    fake_kube.add_daemonset("shop", "agent")
    with pytest.raises(PermanentActionError, match="DaemonSet"):
        await kube_actions.plan(spec("scale", to=5), deploy("agent", "DaemonSet"))


async def test_scale_needs_exactly_one_of_to_by_factor(kube_actions: KubeActions) -> None:
    with pytest.raises(PermanentActionError, match="exactly one"):
        await kube_actions.plan(spec("scale", to=3, by=1), deploy("search"))


# -- set_env ----------------------------------------------------------------------------------------------


async def test_set_env_merges_by_name_and_keeps_other_vars(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", env={"LOG_LEVEL": "info", "RATE_LIMIT_MODE": "direct"})
    action = spec("set_env", name="RATE_LIMIT_MODE", value="queue", container=None)
    _, done = await plan_then_execute(fake_kube, kube_actions, action, deploy("checkout"))

    [patch] = action_writes(fake_kube)
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert body(patch) == {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "env": [{"name": "RATE_LIMIT_MODE", "value": "queue"}]}]
                }
            }
        }
    }
    assert env_of(fake_kube.get("Deployment", "shop", "checkout")) == {
        "LOG_LEVEL": "info",
        "RATE_LIMIT_MODE": "queue",
    }
    assert done.changes == (
        Change(
            path="spec.template.spec.containers[app].env[RATE_LIMIT_MODE]", before="direct", after="queue"
        ),
    )


async def test_set_env_adds_a_new_var_to_the_named_container(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", containers=("app", "proxy"), env={"LOG_LEVEL": "info"})
    action = spec("set_env", name="PAYMENTS_FALLBACK", value="true", container="proxy")
    _, done = await plan_then_execute(fake_kube, kube_actions, action, deploy("checkout"))
    obj = fake_kube.get("Deployment", "shop", "checkout")
    assert env_of(obj, "proxy")["PAYMENTS_FALLBACK"] == "true"
    assert "PAYMENTS_FALLBACK" not in env_of(obj, "app")
    assert done.changes[0].before is None


async def test_set_env_to_the_current_value_is_not_applicable(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", env={"RATE_LIMIT_MODE": "queue"})
    with pytest.raises(NotApplicableError, match=r"^RATE_LIMIT_MODE already 'queue'$"):
        await kube_actions.execute(spec("set_env", name="RATE_LIMIT_MODE", value="queue"), deploy("checkout"))
    assert fake_kube.writes == []


async def test_set_env_unknown_container_is_permanent(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout")
    with pytest.raises(PermanentActionError, match="container 'nope' not found"):
        await kube_actions.plan(spec("set_env", name="A", value="1", container="nope"), deploy("checkout"))


# -- delete_pod -------------------------------------------------------------------------------------------


def current_replica_set(fake: FakeKubeServer, namespace: str, deployment: str) -> dict[str, Any]:
    """The Deployment's newest ReplicaSet: what owns its running pods."""
    uid = fake.get("Deployment", namespace, deployment)["metadata"]["uid"]  # type: ignore[index]
    sets = [
        rs
        for rs in fake.list("ReplicaSet", namespace)
        if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences") or [])
    ]
    return max(sets, key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))


def live_pods(fake: FakeKubeServer, namespace: str = "shop") -> set[str]:
    return {
        p["metadata"]["name"]
        for p in fake.list("Pod", namespace)
        if not p["metadata"].get("deletionTimestamp")
    }


async def test_delete_pod_respects_max_and_selector_and_prefers_not_ready(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "checkout", replicas=3)
    rs = current_replica_set(fake_kube, "shop", "checkout")
    fake_kube.add_pod("shop", "checkout-old", labels={"app": "checkout"}, owner=rs, replacing=True)
    clock.advance(60)
    fake_kube.add_pod(
        "shop", "checkout-pending", labels={"app": "checkout"}, phase="Pending", owner=rs, replacing=True
    )
    clock.advance(60)
    fake_kube.add_pod("shop", "checkout-new", labels={"app": "checkout"}, owner=rs, replacing=True)
    fake_kube.add_pod("shop", "search-1", labels={"app": "search"})

    action = spec("delete_pod", selector="app=checkout", pod=None, max=2, force="delete")
    _, done = await plan_then_execute(fake_kube, kube_actions, action, deploy("checkout"))

    assert [c.path for c in done.changes] == ["pods[checkout-pending]", "pods[checkout-old]"]
    assert [(c.before, c.after) for c in done.changes] == [("Pending", "deleted"), ("Running", "deleted")]
    deletes = action_writes(fake_kube)
    assert [d.method for d in deletes] == ["DELETE", "DELETE"]
    for d in deletes:
        assert body(d)["preconditions"]["uid"], "deletes are pinned to the pod's UID"
    assert {"checkout-new", "search-1"} <= live_pods(fake_kube)
    assert not {"checkout-old", "checkout-pending"} & live_pods(fake_kube)


async def test_delete_pod_failing_midway_reports_what_was_deleted_instead_of_retrying(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "checkout", replicas=3)
    rs = current_replica_set(fake_kube, "shop", "checkout")
    for i in (1, 2, 3):
        fake_kube.add_pod("shop", f"checkout-{i}", labels={"app": "checkout"}, owner=rs, replacing=True)
        clock.advance(60)
    fake_kube.inject(status=500, method="DELETE", path=r"/pods/checkout-2$")
    action = spec("delete_pod", selector="app=checkout", max=2, force="delete")
    done = await kube_actions.execute(action, deploy("checkout"))
    # A retry would list again and delete `max` more pods, so the partial result is the outcome.
    assert [c.path for c in done.changes] == ["pods[checkout-1]"]
    assert done.summary == "deleted 1 of 2 pods in shop (selector app=checkout): checkout-1"


async def test_delete_named_pod(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "checkout")
    rs = current_replica_set(fake_kube, "shop", "checkout")
    fake_kube.add_pod("shop", "checkout-abc12", labels={"app": "checkout"}, owner=rs, replacing=True)
    _, done = await plan_then_execute(
        fake_kube, kube_actions, spec("delete_pod", pod="checkout-abc12", max=1), deploy("checkout")
    )
    assert done.changes == (Change(path="pods[checkout-abc12]", before="Running", after="evicted"),)
    [eviction] = action_writes(fake_kube)
    assert (eviction.method, eviction.path) == (
        "POST",
        "/api/v1/namespaces/shop/pods/checkout-abc12/eviction",
    )
    assert body(eviction)["kind"] == "Eviction" and body(eviction)["apiVersion"] == "policy/v1"
    assert body(eviction)["deleteOptions"]["preconditions"]["uid"], "pinned to the pod's UID"
    # Evicted gracefully: listed, terminating, until the kubelet confirms after the grace period.
    pod = fake_kube.get("Pod", "shop", "checkout-abc12")
    assert pod is not None and pod["metadata"]["deletionGracePeriodSeconds"] == 30
    clock.advance(30)
    assert fake_kube.get("Pod", "shop", "checkout-abc12") is None


async def test_delete_pod_with_no_match_is_not_applicable(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout")
    fake_kube.add_pod("shop", "search-1", labels={"app": "search"})
    with pytest.raises(NotApplicableError, match="no pod matches"):
        await kube_actions.execute(spec("delete_pod", selector="app=nothing", max=3), deploy("checkout"))
    with pytest.raises(NotApplicableError, match="not found"):
        await kube_actions.execute(spec("delete_pod", pod="checkout-gone", max=1), deploy("checkout"))
    assert action_writes(fake_kube) == []


async def test_delete_pod_defaults_to_the_workload_selector_and_keeps_one_ready_pod(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", replicas=3)
    fake_kube.add_pod("shop", "other-1", labels={"app": "other"})
    owned = live_pods(fake_kube) - {"other-1"}
    assert len(owned) == 3
    done = await kube_actions.execute(spec("delete_pod", max=5), deploy("checkout"))
    deleted = {c.path.removeprefix("pods[").removesuffix("]") for c in done.changes}
    assert len(deleted) == 2 and deleted < owned  # the third, last ready pod stays
    assert "other-1" in live_pods(fake_kube)


async def test_delete_pod_refuses_a_pod_of_another_workload(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    """The pod name is an alert label: it must not reach another workload, an opted-out one least."""
    fake_kube.add_deployment("shop", "checkout", replicas=2)
    fake_kube.add_deployment("shop", "payments", replicas=2, annotations={"remediator.io/disabled": "true"})
    rs = current_replica_set(fake_kube, "shop", "payments")
    fake_kube.add_pod("shop", "payments-xyz", labels={"app": "payments"}, owner=rs, replacing=True)
    fake_kube.add_pod("shop", "stray", labels={"app": "checkout"})  # no owner at all
    for pod in ("payments-xyz", "stray"):
        with pytest.raises(NotApplicableError, match="not_owned_by_target") as e:
            await kube_actions.execute(spec("delete_pod", pod=pod, max=1), deploy("checkout"))
        assert "shop/Deployment/checkout" in str(e.value)
    assert action_writes(fake_kube) == []


async def test_a_selector_sweeping_several_workloads_deletes_only_the_targets_pods(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", replicas=3)
    fake_kube.add_deployment("shop", "checkout-canary", replicas=2, labels={"app": "checkout"})
    fake_kube.add_pod("shop", "stray", labels={"app": "checkout", "stray": "yes"})
    canary = {p for p in live_pods(fake_kube) if p.startswith("checkout-canary")}
    assert len(canary) == 2
    done = await kube_actions.execute(spec("delete_pod", selector="app=checkout", max=5), deploy("checkout"))
    deleted = {c.path.removeprefix("pods[").removesuffix("]") for c in done.changes}
    assert len(deleted) == 2 and not deleted & canary
    assert canary | {"stray"} <= live_pods(fake_kube)
    with pytest.raises(NotApplicableError, match="not_owned_by_target"):
        await kube_actions.execute(
            spec("delete_pod", selector="app=checkout,stray=yes", max=1), deploy("checkout")
        )


async def test_delete_pod_never_leaves_the_target_without_a_ready_pod(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", replicas=1)
    [only] = live_pods(fake_kube)
    with pytest.raises(NotApplicableError, match="no ready pod"):
        await kube_actions.execute(spec("delete_pod", pod=only, max=1), deploy("checkout"))
    assert action_writes(fake_kube) == []


async def test_delete_pod_evicts_within_the_disruption_budget_and_a_refusal_is_try_later(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    """The default is the Eviction API: a PodDisruptionBudget that allows no disruption refuses it with a
    429, which is "try later" (nothing changed, not a failure), at plan time and while acting."""
    fake_kube.add_deployment("shop", "checkout", replicas=3)
    fake_kube.add_pdb("shop", "checkout", selector={"app": "checkout"}, min_available=2)
    pods = sorted(live_pods(fake_kube))
    action = spec("delete_pod", pod=pods[0], max=1)
    _, done = await plan_then_execute(fake_kube, kube_actions, action, deploy("checkout"))
    assert done.changes == (Change(path=f"pods[{pods[0]}]", before="Running", after="evicted"),)
    assert [(w.method, w.path.rsplit("/", 1)[-1]) for w in action_writes(fake_kube)] == [("POST", "eviction")]
    # The budget (2 of 3 must stay available) is used up until the replacement is ready.
    before = len(action_writes(fake_kube))
    for call in (kube_actions.plan, kube_actions.execute):
        with pytest.raises(TryLaterError, match="refused by a PodDisruptionBudget"):
            await call(spec("delete_pod", pod=pods[1], max=1), deploy("checkout"))
    assert len(action_writes(fake_kube)) == before, "a refused eviction changes nothing"
    assert pods[1] in live_pods(fake_kube)


async def test_a_refusal_met_while_acting_is_try_later_not_a_retry(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    """The budget can be used up between the plan's dry-run and the eviction (another eviction, a pod
    turning unready): the 429 is then `TryLaterError`, which the retry policy never retries."""
    fake_kube.add_deployment("shop", "checkout", replicas=3)
    pods = sorted(live_pods(fake_kube))
    refusal = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": "Cannot evict pod as it would violate the pod's disruption budget.",
            "reason": "TooManyRequests",
            "details": {"causes": [{"reason": "DisruptionBudget", "message": "needs 2 healthy pods"}]},
            "code": 429,
        }
    )
    fake_kube.inject(status=429, method="POST", path=r"/eviction$", body=refusal, times=2)
    with pytest.raises(TryLaterError, match="needs 2 healthy pods"):
        await kube_actions.plan(spec("delete_pod", pod=pods[0], max=1), deploy("checkout"))
    with pytest.raises(TryLaterError, match="needs 2 healthy pods"):
        await kube_actions.execute(spec("delete_pod", pod=pods[0], max=1), deploy("checkout"))
    assert not issubclass(TryLaterError, TransientActionError)
    assert pods[0] in live_pods(fake_kube)


async def test_force_delete_deletes_without_asking_the_budget(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", replicas=2)
    fake_kube.add_pdb("shop", "checkout", selector={"app": "checkout"}, min_available=2)
    pods = sorted(live_pods(fake_kube))
    with pytest.raises(TryLaterError):
        await kube_actions.execute(spec("delete_pod", pod=pods[0], max=1), deploy("checkout"))
    done = await kube_actions.execute(
        spec("delete_pod", pod=pods[0], max=1, force="delete"), deploy("checkout")
    )
    assert done.summary == f"deleted 1 pod in shop (pod {pods[0]}): {pods[0]}"
    assert [w.method for w in action_writes(fake_kube)] == ["DELETE"]
    # Even forced, never the last ready pod.
    with pytest.raises(NotApplicableError, match="last_ready_pod"):
        await kube_actions.execute(spec("delete_pod", pod=pods[1], max=1, force="delete"), deploy("checkout"))


# -- opted_out --------------------------------------------------------------------------------------------


async def test_opted_out_via_label_annotation_or_namespace(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "free")
    fake_kube.add_deployment("shop", "by-label", labels={"app": "by-label", "remediator.io/disabled": "true"})
    fake_kube.add_deployment("shop", "by-annotation", annotations={"remediator.io/disabled": "true"})
    fake_kube.add_deployment("shop", "not-true", annotations={"remediator.io/disabled": "false"})
    fake_kube.add_namespace("frozen", labels={"remediator.io/disabled": "true"})
    fake_kube.add_deployment("frozen", "api")
    fake_kube.add_namespace("quiet", annotations={"remediator.io/disabled": "true"})
    fake_kube.add_deployment("quiet", "api")

    assert await kube_actions.opted_out(deploy("free")) is None
    assert await kube_actions.opted_out(deploy("not-true")) is None
    assert await kube_actions.opted_out(deploy("by-label")) == (
        "shop/Deployment/by-label has label remediator.io/disabled=true"
    )
    assert "annotation" in (await kube_actions.opted_out(deploy("by-annotation")) or "")
    assert await kube_actions.opted_out(deploy("api", namespace="frozen")) == (
        "namespace 'frozen' has label remediator.io/disabled=true"
    )
    assert "namespace 'quiet' has annotation" in (
        await kube_actions.opted_out(deploy("api", namespace="quiet")) or ""
    )


async def test_opted_out_workload_wins_over_an_unreadable_namespace(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    """The workload and its namespace are read at once; the workload's opt-out is judged first, so a
    namespace remediator may not read (403) never turns an opted-out workload into one it may touch."""
    fake_kube.add_deployment("shop", "by-label", labels={"app": "by-label", "remediator.io/disabled": "true"})
    fake_kube.add_deployment("shop", "free")
    fake_kube.inject(status=403, method="GET", path=r"^/api/v1/namespaces/shop$", times=2)
    assert await kube_actions.opted_out(deploy("by-label")) == (
        "shop/Deployment/by-label has label remediator.io/disabled=true"
    )
    with pytest.raises(PermanentActionError, match="forbidden"):
        await kube_actions.opted_out(deploy("free"))
    with pytest.raises(PermanentActionError, match="not found"):
        await kube_actions.opted_out(deploy("missing"))


# -- error mapping ----------------------------------------------------------------------------------------


async def test_404_is_permanent_with_a_clear_message(kube_actions: KubeActions) -> None:
    with pytest.raises(PermanentActionError, match=r"^deployments.apps 'nope' not found in 'shop'$"):
        await kube_actions.plan(spec("rollout_restart"), deploy("nope"))


async def test_403_is_permanent_and_points_at_rbac(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "cart")
    fake_kube.inject(status=403, method="PATCH")
    with pytest.raises(
        PermanentActionError, match=r"^forbidden: cannot patch deployments.apps 'cart' in 'shop'.*RBAC"
    ):
        await kube_actions.execute(spec("rollout_restart"), deploy("cart"))


@pytest.mark.parametrize("status", [500, 503, 409])
async def test_5xx_and_409_are_transient(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, status: int
) -> None:
    fake_kube.add_deployment("shop", "cart")
    fake_kube.inject(status=status, method="PATCH")
    with pytest.raises(TransientActionError) as info:
        await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    assert info.value.retry_after_s is None
    if status == 409:
        assert "conflict: re-read and retry" in str(info.value)


async def test_429_is_transient_with_retry_after(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "cart")
    fake_kube.inject(status=429, method="GET", retry_after=7)
    with pytest.raises(TransientActionError, match="429") as info:
        await kube_actions.plan(spec("rollout_restart"), deploy("cart"))
    assert info.value.retry_after_s == 7.0


async def test_undo_racing_another_writer_fails_its_resource_version_test(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "checkout", image="checkout:v2", revisions=["checkout:v1"])
    fake_kube.inject(status=0, method="PATCH", path=r"/deployments/checkout$", delay=0.5)
    ours = asyncio.create_task(kube_actions.execute(spec("rollout_undo"), deploy("checkout")), name="undo")
    await asyncio.sleep(0.1)
    fake_kube.clear_faults()
    await kube_actions.execute(spec("set_env", name="A", value="1"), deploy("checkout"))
    # The JSON Patch "test" op fails with 422; that is a conflict to re-read, not a permanent rejection.
    with pytest.raises(TransientActionError, match="conflict"):
        await ours
    assert containers(fake_kube.get("Deployment", "shop", "checkout"))["app"]["image"] == "checkout:v2"


async def test_slow_response_beyond_the_call_timeout_is_transient(
    fake_kube: FakeKubeServer, kubeconfig: Path, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart")
    settings = KubeSettings(mode="kubeconfig", kubeconfig=kubeconfig, call_timeout=0.3)
    async with open_kube(settings, clock=clock) as kube:
        assert kube is not None
        fake_kube.inject(status=0, method="GET", path=r"/deployments/cart$", delay=5.0)
        started = time.monotonic()
        with pytest.raises(TransientActionError, match=r"no answer within 0\.3s"):
            await kube.plan(spec("rollout_restart"), deploy("cart"))
        assert time.monotonic() - started < 2.0


# -- open_kube --------------------------------------------------------------------------------------------


async def test_open_kube_mode_none_yields_none(clock: FakeClock) -> None:
    async with open_kube(KubeSettings(mode="none"), clock=clock) as kube:
        assert kube is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_open_kube_with_an_unreachable_cluster_yields_none_quickly(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{_free_port()}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    started = time.monotonic()
    async with open_kube(
        KubeSettings(mode="kubeconfig", kubeconfig=path, call_timeout=2.0), clock=clock
    ) as kube:
        assert kube is None
    assert time.monotonic() - started < 2.0


async def test_open_kube_explicit_kubeconfig_missing_is_a_config_error(
    tmp_path: Path, clock: FakeClock
) -> None:
    with pytest.raises(ConfigError, match="cannot load kubeconfig"):
        async with open_kube(KubeSettings(mode="kubeconfig", kubeconfig=tmp_path / "missing"), clock=clock):
            pass


async def test_open_kube_auto_without_any_config_yields_none(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    async with open_kube(KubeSettings(mode="auto", kubeconfig=tmp_path / "missing"), clock=clock) as kube:
        assert kube is None


async def test_open_kube_auto_uses_the_kubeconfig(kubeconfig: Path, clock: FakeClock) -> None:
    async with open_kube(KubeSettings(mode="auto", kubeconfig=kubeconfig), clock=clock) as kube:
        assert kube is not None
        assert await kube.ping()


# -- rollout_status ---------------------------------------------------------------------------------------


async def test_rollout_status_stale_until_the_rollout_completes(
    kubeconfig: Path, clock: FakeClock, tmp_path: Path
) -> None:
    async with FakeKubeServer(clock=clock.now, rollout="manual") as fake:
        fake.add_namespace("shop")
        fake.add_deployment("shop", "cart", replicas=3)
        fake.add_statefulset("shop", "db", replicas=2)
        fake.add_daemonset("shop", "agent")
        path = fake.write_kubeconfig(tmp_path / "manual-kubeconfig")
        async with open_kube(KubeSettings(mode="kubeconfig", kubeconfig=path), clock=clock) as kube:
            assert kube is not None
            targets = [deploy("cart"), deploy("db", "StatefulSet"), deploy("agent", "DaemonSet")]
            for target in targets:
                await kube.execute(spec("rollout_restart"), target)
                status = await kube.rollout_status(target)
                assert not status.complete, target
                assert status.reason
            fake.complete_rollouts()
            for target in targets:
                assert (await kube.rollout_status(target)).complete, target


async def test_rollout_status_complete_once_the_rollout_is_done(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "cart", replicas=3)
    await kube_actions.execute(spec("rollout_restart"), deploy("cart"))
    # Right after the write the controller has not seen it: the status is the previous rollout's.
    status = await kube_actions.rollout_status(deploy("cart"))
    assert status == RolloutStatus(False, "spec update not observed yet (generation 2, observed 1)")
    clock.advance(60)
    assert await kube_actions.rollout_status(deploy("cart")) == RolloutStatus(
        True, "rolled out: 3 replicas updated and available"
    )


def test_rollout_status_reasons_follow_kubectl() -> None:
    base = {"metadata": {"generation": 2}, "spec": {"replicas": 4}}
    stale = {**base, "status": {"observedGeneration": 1}}
    assert rollout_status_of("Deployment", stale).reason.startswith("spec update not observed")
    partial = {
        **base,
        "status": {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 2},
    }
    assert rollout_status_of("Deployment", partial) == RolloutStatus(False, "2 of 4 updated replicas")
    old = {
        **base,
        "status": {"observedGeneration": 2, "replicas": 5, "updatedReplicas": 4, "availableReplicas": 4},
    }
    assert rollout_status_of("Deployment", old) == RolloutStatus(False, "1 old replicas pending termination")
    sts = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 2,
            "currentRevision": "a",
            "updateRevision": "b",
        },
    }
    assert not rollout_status_of("StatefulSet", sts).complete
    ds = {
        "metadata": {"generation": 1},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert rollout_status_of("DaemonSet", ds) == RolloutStatus(False, "2 of 3 updated pods available")


# -- pure helpers -----------------------------------------------------------------------------------------


def test_static_plan_marks_before_as_unknown() -> None:
    target = deploy("search")
    result = static_plan(spec("scale", to=6, max=20), target)
    assert result.changes == (Change(path="spec.replicas", before=None, after=6),)
    assert not result.applied
    assert "cluster state unknown" in result.summary
    for kind, params in [
        ("rollout_restart", {}),
        ("rollout_undo", {"only_if_rolled_out_within": 7200.0, "to_revision": None}),
        ("set_env", {"name": "A", "value": "1", "container": None}),
        ("delete_pod", {"selector": "app=x", "pod": None, "max": 2}),
    ]:
        plan = static_plan(spec(kind, **params), target)  # type: ignore[arg-type]
        assert all(c.before is None for c in plan.changes), kind


def test_diff_paths_name_containers_env_and_annotation_keys() -> None:
    before = {
        "metadata": {"annotations": {"a.io/x": "1"}},
        "spec": {"containers": [{"name": "app", "image": "v1", "env": [{"name": "A", "value": "1"}]}]},
    }
    after = {
        "metadata": {"annotations": {"a.io/x": "2"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "v2",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                }
            ]
        },
    }
    assert diff(before, after, "spec.template") == [
        Change(path="spec.template.metadata.annotations[a.io/x]", before="1", after="2"),
        Change(path="spec.template.spec.containers[app].image", before="v1", after="v2"),
        Change(
            path="spec.template.spec.containers[app].env[B]", before=None, after={"name": "B", "value": "2"}
        ),
    ]


def test_rollback_annotations_keep_the_skip_list() -> None:
    dep = {
        "deployment.kubernetes.io/revision": "3",
        "team": "new",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
    }
    rs = {
        "deployment.kubernetes.io/revision": "2",
        "team": "old",
        "deployment.kubernetes.io/desired-replicas": "4",
    }
    assert rollback_annotations(dep, rs) == {
        "deployment.kubernetes.io/revision": "3",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "team": "old",
    }


def test_scale_target_rules() -> None:
    common: dict[str, Any] = {
        "to": None,
        "by": None,
        "factor": None,
        "lo": None,
        "hi": None,
        "allow_zero": False,
    }
    assert scale_target(4, **{**common, "factor": 2.0, "hi": 6}) == 6
    assert scale_target(4, **{**common, "by": -10}) == 1
    assert scale_target(4, **{**common, "by": -10, "allow_zero": True}) == 0
    assert scale_target(0, **{**common, "factor": 3.0}) == 1


def test_label_selector_formats_expressions() -> None:
    selector = {
        "matchLabels": {"app": "x", "tier": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector(selector) == "app=x,tier=web,env in (canary,prod),!legacy"


async def test_restart_leaves_a_fresh_rollout_alone(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    now = clock.now()
    fake_kube.add_deployment(
        "shop", "fresh", image="app:v2", revisions=["app:v1"], rolled_out_at=now - timedelta(minutes=10)
    )
    fake_kube.add_deployment(
        "shop", "stale", image="app:v2", revisions=["app:v1"], rolled_out_at=now - timedelta(hours=5)
    )
    spec = ActionSpec(kind="rollout_restart", params={"unless_rolled_out_within": 7200.0})
    with pytest.raises(NotApplicableError, match="within 2h"):
        await kube_actions.execute(spec, Target(kind="Deployment", namespace="shop", name="fresh"))
    await kube_actions.execute(spec, Target(kind="Deployment", namespace="shop", name="stale"))
    assert [w.path.rsplit("/", 1)[-1] for w in fake_kube.writes if w.method == "PATCH"] == ["stale"]
