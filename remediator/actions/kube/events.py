"""The Event recorded on a workload after acting, so `kubectl describe` shows who acted and why."""

from __future__ import annotations

import os
import secrets
import socket

import structlog

from remediator.actions.kube.times import micro_time
from remediator.clock import Clock
from remediator.kube import KubeClient
from remediator.model import ActionKind, Target

log = structlog.stdlib.get_logger("remediator.actions.kube")

REPORTING_CONTROLLER = "remediator.io/remediator"
EVENT_REASON = "Remediated"

_EVENT_ACTIONS: dict[ActionKind, str] = {
    "rollout_restart": "RolloutRestart",
    "rollout_undo": "RolloutUndo",
    "scale": "Scale",
    "set_env": "SetEnv",
    "delete_pod": "DeletePod",
    "set_image": "SetImage",
    "pause_rollout": "RolloutPause",
    "resume_rollout": "RolloutResume",
    "run_job": "RunJob",
    "http_request": "HttpRequest",
}


async def record_event(
    kube: KubeClient, clock: Clock, kind: ActionKind, target: Target, summary: str, *, uid: str | None
) -> None:
    """Best-effort events.k8s.io/v1 Event on the target.

    The action already happened: a failure here is logged, never raised.
    """
    now = clock.now()
    regarding = {
        "apiVersion": "apps/v1",
        "kind": target.kind,
        "name": target.name,
        "namespace": target.namespace,
    }
    if uid:
        regarding["uid"] = uid
    body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        # client-go names events "<object>.<unix nanos hex>"; a random tail avoids clashes at equal times.
        "metadata": {
            "name": f"{target.name[:200]}.{int(now.timestamp() * 1e9):x}{secrets.token_hex(2)}",
            "namespace": target.namespace,
        },
        "eventTime": micro_time(now),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": _instance()[:128],
        "action": _EVENT_ACTIONS[kind],
        "reason": EVENT_REASON,
        "type": "Normal",
        "regarding": regarding,
        "note": summary[:1024],
    }
    try:
        await kube.create_event(target.namespace, body)
    except Exception as e:
        log.warning("kubernetes: could not record the Event", target=target.key, error=str(e))


def _instance() -> str:
    """reportingInstance: the pod's name when the Downward API gives it, else the host name."""
    return os.environ.get("POD_NAME") or socket.gethostname()
