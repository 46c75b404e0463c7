"""run_job: a one-off Kubernetes Job in the target's namespace (FLUSHDB, terminating long queries).

The Job carries the credentials (env from the namespace's Secrets), so remediator never holds a
database password; remediator only creates it, waits for it and keeps the last lines of its log.
The container runs the rule's command list as is (exec form: no shell), with every template value
checked when rendered (no newline, control character or leading '-'), as non-root with no
privilege escalation and every capability dropped, no service-account token unless the rule names
an account, and `backoffLimit: 0`: a remediation that failed once is a human's to retry.

Retries are safe: the Job's name comes from the execution (`job_name`, set by the runner), a retry
that finds it already created (409) waits for that one instead of starting a second, and the wait
is measured from the Job's creation, so a retry never extends it. A Job still running when the
wait ends is deleted (with its pods) and the action fails, as it does when the Job fails; both
escalate through the rule's `on_failure`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from remediator.actions.kube.fields import get
from remediator.actions.kube.plan import Prepared
from remediator.actions.kube.times import parse_time
from remediator.actions.redact import last_lines
from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.errors import PermanentActionError
from remediator.kube import KubeClient
from remediator.model import Change, Target
from remediator.rules.steps import image_problem

CONTAINER = "remediate"
MANAGED_BY = "remediator"
EXECUTION_LABEL = "remediator.io/execution"
TARGET_LABEL = "remediator.io/target"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
POLL_S = 5.0
_LOG_BYTES = 256 * 1024


def job_manifest(params: Mapping[str, Any], target: Target, *, name: str) -> dict[str, Any]:
    """The batch/v1 Job for `params` (compiled and rendered by the rule), checked once more here."""
    image = str(params["image"])
    if problem := image_problem(image):
        raise PermanentActionError(f"run_job: {problem}")
    command = [str(a) for a in params["command"]]
    for i, arg in enumerate(command[1:], start=1):
        if any(ord(c) < 0x20 for c in arg):
            raise PermanentActionError(f"run_job: command[{i}] contains a newline or a control character")
    env: list[dict[str, Any]] = []
    for key, value in (params.get("env") or {}).items():
        if isinstance(value, Mapping):
            ref = {"name": str(value["secret"]), "key": str(value["key"])}
            env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
        else:
            if any(ord(c) < 0x20 for c in str(value)):
                raise PermanentActionError(f"run_job: env {key} contains a newline or a control character")
            env.append({"name": key, "value": str(value)})
    account = params.get("service_account")
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY, TARGET_LABEL: target.name[:63]}
    if name.startswith("rmd-"):
        labels[EXECUTION_LABEL] = name.split("-")[1]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": command,
        "resources": dict(params.get("resources") or {}),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if env:
        container["env"] = env
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": account is not None,
        "securityContext": {
            "runAsNonRoot": bool(params.get("run_as_non_root", True)),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }
    if account is not None:
        pod_spec["serviceAccountName"] = str(account)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": target.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, int(float(params["active_deadline"]))),
            "ttlSecondsAfterFinished": max(0, int(float(params["ttl_after_finished"]))),
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def describe(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The Job as the audit trail shows it: what runs, with which identity; secrets by reference."""
    pod = manifest["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {
        e["name"]: e["value"]
        if "value" in e
        else f"<secret {e['valueFrom']['secretKeyRef']['name']}/{e['valueFrom']['secretKeyRef']['key']}>"
        for e in container.get("env") or []
    }
    return {
        "image": container["image"],
        "command": container["command"],
        "env": env,
        "service_account": pod.get("serviceAccountName"),
        "active_deadline_s": manifest["spec"]["activeDeadlineSeconds"],
    }


async def prepare_run_job(
    params: Mapping[str, Any], target: Target, *, kube: KubeClient, clock: Clock
) -> Prepared:
    name = str(params.get("job_name") or f"remediator-{target.name}"[:63].rstrip("-"))
    manifest = job_manifest(params, target, name=name)
    what = describe(manifest)
    shown = " ".join(what["command"])
    planned_change = Change(path=f"jobs[{target.namespace}/{name}]", before=None, after=what)
    wait_s = float(params.get("wait") or float(params["active_deadline"]) + 60.0)
    keep = int(params.get("log_lines", 50))

    async def apply() -> tuple[tuple[Change, ...], str]:
        created = await kube.create_job(target.namespace, manifest)
        job = created if created is not None else await _ours(kube, target.namespace, name)
        started = parse_time(get(job, "metadata", "creationTimestamp")) or clock.now()
        deadline = started + timedelta(seconds=wait_s)
        while (state := _finished(job)) is None:
            if clock.now() >= deadline:
                await kube.delete_job(target.namespace, name)
                lines = await _log_tail(kube, target.namespace, name, keep)
                raise PermanentActionError(
                    f"Job {name} did not finish within {format_duration(wait_s)}: deleted" + _tail_text(lines)
                )
            await clock.sleep(POLL_S)
            job = await kube.read_job(target.namespace, name) or {}
            if not job:
                raise PermanentActionError(f"Job {name} disappeared before it finished")
        kind, reason = state
        lines = await _log_tail(kube, target.namespace, name, keep)
        if kind == "Failed":
            raise PermanentActionError(f"Job {name} failed ({reason})" + _tail_text(lines))
        done = Change(
            path=f"jobs[{target.namespace}/{name}]",
            before=None,
            after={**what, "status": "Complete", "log": lines},
        )
        return (done,), f"Job {name} in {target.namespace} completed: {shown}"

    return Prepared(
        changes=(planned_change,),
        planned=f"would run Job {name} in {target.namespace}: {what['image']} {shown}",
        apply=apply,
        uid=None,
    )


async def _ours(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    """The existing Job of that name, if this execution created it (a retry after a lost answer)."""
    job = await kube.read_job(namespace, name)
    if job is None:
        raise PermanentActionError(f"Job {name} was reported as existing but cannot be read")
    labels = get(job, "metadata", "labels") or {}
    if labels.get("app.kubernetes.io/managed-by") != MANAGED_BY:
        raise PermanentActionError(f"a Job named {name} exists in {namespace} and is not remediator's")
    return job


def _finished(job: Mapping[str, Any]) -> tuple[str, str] | None:
    """("Complete" | "Failed", reason) once the Job is done, else None (interim conditions ignored)."""
    for cond in get(job, "status", "conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"]), str(cond.get("reason") or cond.get("message") or "no reason given")
    return None


async def _log_tail(kube: KubeClient, namespace: str, name: str, keep: int) -> list[str]:
    """The last `keep` lines of the Job's pod (the newest, if a pod was replaced), redacted; [] if none."""
    if keep <= 0:
        return []
    try:
        pods = await kube.list_pods(namespace, f"{JOB_NAME_LABEL}={name}")
        if not pods:
            return []
        newest = max(pods, key=lambda p: str(get(p, "metadata", "creationTimestamp") or ""))
        text = await kube.read_pod_log(
            namespace,
            str(get(newest, "metadata", "name")),
            container=CONTAINER,
            tail_lines=keep,
            limit_bytes=_LOG_BYTES,
            previous=False,
        )
    except asyncio.CancelledError:
        raise
    except Exception as e:  # logs are evidence, not the outcome: never fail the action for them
        return [f"(log unavailable: {e})"]
    return last_lines(text, keep)


def _tail_text(lines: list[str]) -> str:
    if not lines:
        return ""
    return "; last log lines: " + " | ".join(lines[-10:])
