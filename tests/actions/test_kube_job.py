"""run_job against the fake API server's Job controller: manifest on the wire, wait, log tail, failures."""

from __future__ import annotations

from typing import Any

import pytest

from remediator.actions.kube import KubeActions
from remediator.actions.kube.job import job_manifest
from remediator.clock import FakeClock
from remediator.errors import PermanentActionError
from remediator.model import ActionSpec
from remediator.testing.fake_kube import FakeKubeServer
from tests.actions.test_kube import body, deploy

NAME = "rmd-42-0-flush-corrupted-cache"


def flush(**over: Any) -> ActionSpec:
    params: dict[str, Any] = {
        "image": "bitnami/redis:7.2",
        "command": ["redis-cli", "-h", "redis-master", "FLUSHDB"],
        "env": {"REDISCLI_AUTH": {"secret": "redis-auth", "key": "password"}, "MODE": "flush"},
        "service_account": None,
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "active_deadline": 120.0,
        "ttl_after_finished": 3600.0,
        "wait": 180.0,
        "log_lines": 3,
        "run_as_non_root": True,
        "job_name": NAME,
    }
    return ActionSpec(kind="run_job", params={**params, **over})


def job_writes(fake: FakeKubeServer) -> list[Any]:
    return [w for w in fake.writes if "/jobs" in w.path]


async def test_the_job_runs_exec_form_without_privileges_and_its_log_tail_is_kept(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    fake_kube.set_pod_outcome(
        "succeed", job=NAME, log="connecting\npassword=hunter2 accepted\nOK\nflushed 1042 keys"
    )
    planned = await kube_actions.plan(flush(), deploy("api"))
    assert job_writes(fake_kube) == []
    assert planned.summary == (
        f"would run Job {NAME} in shop: bitnami/redis:7.2 redis-cli -h redis-master FLUSHDB"
    )
    assert planned.changes[0].after["env"] == {
        "REDISCLI_AUTH": "<secret redis-auth/password>",
        "MODE": "flush",
    }

    done = await kube_actions.execute(flush(), deploy("api"))

    [create] = [w for w in job_writes(fake_kube) if w.method == "POST"]
    job = body(create)
    pod = job["spec"]["template"]["spec"]
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 120
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert job["metadata"]["labels"]["remediator.io/execution"] == "42"
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["command"] == ["redis-cli", "-h", "redis-master", "FLUSHDB"]
    assert "args" not in container, "exec form: no shell wraps the command"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {
        "name": "REDISCLI_AUTH",
        "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}},
    } in (container["env"])
    assert done.summary == f"Job {NAME} in shop completed: redis-cli -h redis-master FLUSHDB"
    assert done.changes[0].after["status"] == "Complete"
    assert done.changes[0].after["log"] == ["password=[REDACTED] accepted", "OK", "flushed 1042 keys"]


async def test_a_failed_job_fails_the_action_with_its_log(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    fake_kube.set_pod_outcome("fail", job=NAME, exit_code=1, log="NOAUTH Authentication required.")
    with pytest.raises(PermanentActionError, match=rf"Job {NAME} failed \(BackoffLimitExceeded\)") as e:
        await kube_actions.execute(flush(), deploy("api"))
    assert "last log lines: NOAUTH Authentication required." in str(e.value)


async def test_a_job_still_running_when_remediator_stops_waiting_is_deleted_and_fails(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    fake_kube.set_pod_outcome("pending", job=NAME)
    started = clock.monotonic()
    with pytest.raises(PermanentActionError, match=rf"Job {NAME} did not finish within 1m: deleted"):
        await kube_actions.execute(flush(wait=60.0), deploy("api"))
    assert 60 <= clock.monotonic() - started <= 65
    assert any(w.method == "DELETE" and w.path.endswith(f"/jobs/{NAME}") for w in fake_kube.writes)


async def test_kubernetes_kills_a_job_past_its_active_deadline(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    fake_kube.set_pod_outcome("pending", job=NAME)
    with pytest.raises(PermanentActionError, match=rf"Job {NAME} failed \(DeadlineExceeded\)"):
        await kube_actions.execute(flush(active_deadline=120.0, wait=180.0), deploy("api"))


async def test_a_retry_waits_for_the_job_it_created_instead_of_starting_another(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    fake_kube.set_pod_outcome("succeed", job=NAME, log="OK")
    await kube_actions.execute(flush(), deploy("api"))
    again = await kube_actions.execute(flush(), deploy("api"))
    assert again.summary.startswith(f"Job {NAME} in shop completed")
    assert len(fake_kube.list("Job", "shop")) == 1, "the second create answered 409: the first Job is reused"


async def test_a_job_of_that_name_that_is_not_ours_is_refused(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    manifest = job_manifest(flush().params, deploy("api"), name=NAME)
    del manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    await kube_actions._kube.create_job("shop", manifest)  # someone else's Job, by the same name
    with pytest.raises(PermanentActionError, match="is not remediator's"):
        await kube_actions.execute(flush(), deploy("api"))


async def test_a_shell_or_control_characters_never_reach_the_api_server(
    fake_kube: FakeKubeServer, kube_actions: KubeActions
) -> None:
    fake_kube.add_deployment("shop", "api", image="api:v1")
    with pytest.raises(PermanentActionError, match="control character"):
        await kube_actions.execute(flush(command=["redis-cli", "-h", "x\nFLUSHALL"]), deploy("api"))
    with pytest.raises(PermanentActionError, match="has no tag or digest"):
        await kube_actions.execute(flush(image="redis"), deploy("api"))
    assert job_writes(fake_kube) == []
