"""The Role grants exactly what the actions call: each `actions:` switch against the API calls its
actions make on the fake API server (through the real client), verb by verb.

A grant nobody uses is privilege for nothing; a call nobody granted is a 403 in production. Both fail
here, per switch: the calls each family's actions make (every path: restart's rollout history, the
eviction, a Job's log, evidence of a crash loop) must be granted by the Role rendered with that switch
alone, and every verb the switch adds must be one of those calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediator.actions.kube import KubeActions, open_kube
from remediator.actions.kube.evidence import EvidenceBounds
from remediator.clock import FakeClock
from remediator.config import KubeSettings
from remediator.model import ActionKind, ActionSpec, Target
from remediator.testing.fake_kube import FakeKubeServer
from tests.ship.conftest import render

pytest.importorskip("helm_python", reason="PyPI package helm-python-sdk")

FAMILIES = (
    "restart",
    "undo",
    "scale",
    "setEnv",
    "setImage",
    "pauseRollout",
    "deletePod",
    "deletePodForce",
    "runJob",
    "evidence",
)
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
API = Target(kind="Deployment", namespace="shop", name="api")
DB = Target(kind="StatefulSet", namespace="shop", name="db")
AGENT = Target(kind="DaemonSet", namespace="shop", name="agent")
Grants = set[tuple[str, str, str]]
"""(apiGroup, resource, verb)."""


def spec(kind: ActionKind, **params: Any) -> ActionSpec:
    return ActionSpec(kind=kind, params=params)


def granted(values: dict[str, Any]) -> Grants:
    out: Grants = set()
    for doc in render(values):
        if doc.get("kind") in ("Role", "ClusterRole"):
            for rule in doc["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        out.update((group, resource, verb) for verb in rule["verbs"])
    return out


def only(family: str) -> dict[str, Any]:
    return {"actions": {k: k == family for k in FAMILIES}}


def called(fake: FakeKubeServer) -> Grants:
    """The RBAC (group, resource, verb) of every resource request the server received."""
    out: Grants = set()
    for r in fake.requests:
        parts = r.path.strip("/").split("/")
        if parts[0] == "api" and len(parts) > 2:
            group, rest = "", parts[2:]
        elif parts[0] == "apis" and len(parts) > 3:
            group, rest = parts[1], parts[3:]
        else:
            continue  # discovery, /version: not resources
        if rest[0] == "namespaces" and len(rest) > 2:
            rest = rest[2:]
        resource, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
        verb = {"POST": "create", "PATCH": "patch", "PUT": "update"}.get(r.method)
        if verb is None:
            if r.method == "DELETE":
                verb = "delete" if name else "deletecollection"
            else:
                verb = "get" if name else ("watch" if r.query.get("watch") in ("true", "1") else "list")
        out.add((group, f"{resource}/{sub}" if sub else resource, verb))
    return out


async def _restart(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    await k.execute(spec("rollout_restart", unless_rolled_out_within=3600.0), API)
    await k.execute(spec("rollout_restart", unless_rolled_out_within=None), DB)
    await k.execute(spec("rollout_restart", unless_rolled_out_within=None), AGENT)


async def _undo(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    await k.execute(spec("rollout_undo", only_if_rolled_out_within=None, to_revision=None), API)


async def _scale(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    for target in (API, DB):
        await k.execute(spec("scale", to=4, by=None, factor=None, min=1, max=5, allow_zero=False), target)


async def _set_env(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    for target in (API, DB, AGENT):
        await k.execute(spec("set_env", name="FALLBACK_ENABLED", value="true", container=None), target)


async def _set_image(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    for target in (API, DB, AGENT):
        await k.execute(spec("set_image", image="registry.example.com/app:v9", container=None), target)


async def _pause(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    await k.execute(spec("pause_rollout", undo_if_firing_after=None), API)
    await k.execute(spec("resume_rollout"), API)
    await k.execute(spec("pause_rollout", undo_if_firing_after=600.0), API)
    fake.complete_rollouts()
    # The canary follow-up: still firing, so it rolls back and resumes in one write.
    undo = spec("rollout_undo", only_if_rolled_out_within=None, to_revision=None, resume_paused=True)
    await k.execute(undo, API)


def _api_pod(fake: FakeKubeServer) -> str:
    return min(
        p["metadata"]["name"] for p in fake.list("Pod", "shop") if p["metadata"]["name"].startswith("api-")
    )


async def _delete_pod(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    await k.execute(spec("delete_pod", pod=_api_pod(fake), selector=None, max=1, force=None), API)


async def _delete_pod_forced(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    await k.execute(spec("delete_pod", pod=_api_pod(fake), selector=None, max=1, force="delete"), API)


def _job(name: str, wait: float) -> ActionSpec:
    return spec(
        "run_job",
        image="bitnami/redis:7.2",
        command=["redis-cli", "FLUSHDB"],
        env={},
        service_account=None,
        resources={},
        active_deadline=600.0,
        ttl_after_finished=3600.0,
        wait=wait,
        log_lines=3,
        run_as_non_root=True,
        job_name=name,
    )


async def _run_job(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    fake.set_pod_outcome("succeed", job="rmd-1-0-flush", log="OK")
    await k.execute(_job("rmd-1-0-flush", 180.0), API)
    fake.set_pod_outcome("pending", job="rmd-2-0-flush")
    with pytest.raises(Exception, match="rmd-2-0-flush"):  # still pending at its deadline: deleted
        await k.execute(_job("rmd-2-0-flush", 30.0), API)


async def _evidence(k: KubeActions, fake: FakeKubeServer, clock: FakeClock) -> None:
    fake.set_pod_outcome("crash", namespace="shop", selector="app=api", log="panic: pool exhausted")
    await clock.sleep(120)
    await k.evidence(API, EvidenceBounds(log_lines=2, max_failing_pods=1))


RUNS: dict[str, Callable[[KubeActions, FakeKubeServer, FakeClock], Awaitable[None]]] = {
    "restart": _restart,
    "undo": _undo,
    "scale": _scale,
    "setEnv": _set_env,
    "setImage": _set_image,
    "pauseRollout": _pause,
    "deletePod": _delete_pod,
    "deletePodForce": _delete_pod_forced,
    "runJob": _run_job,
    "evidence": _evidence,
}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[FakeKubeServer, KubeActions, FakeClock]]:
    clock = FakeClock(START, autojump=True)
    async with FakeKubeServer(clock=clock.now) as fake:
        fake.add_namespace("shop")
        fake.add_deployment(
            "shop",
            "api",
            image="api:v2",
            revisions=["api:v1"],
            replicas=3,
            rolled_out_at=START - timedelta(hours=3),
        )
        fake.add_statefulset("shop", "db", image="db:v1")
        fake.add_daemonset("shop", "agent", image="agent:v1")
        settings = KubeSettings(
            mode="kubeconfig",
            kubeconfig=fake.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop"),
            call_timeout=5.0,
        )
        async with open_kube(settings, clock=clock) as kube:
            assert kube is not None
            yield fake, kube, clock


@pytest.mark.parametrize("family", FAMILIES)
async def test_each_switch_grants_exactly_what_its_actions_call(
    family: str, cluster: tuple[FakeKubeServer, KubeActions, FakeClock]
) -> None:
    fake, kube, clock = cluster
    await RUNS[family](kube, fake, clock)
    calls = called(fake)
    role = granted(only(family))
    assert calls - role == set(), f"{family}: called but not granted (a 403 in production)"
    added = role - granted({"actions": dict.fromkeys(FAMILIES, False)})
    assert added - calls == set(), f"{family}: granted but never called"
