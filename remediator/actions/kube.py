"""Kubernetes actions, the last stage before the cluster: the only module that imports kubernetes_asyncio.

The engine calls `plan()` for a dry-run (or the audit before acting) and `execute()` to act, then
`rollout_status()` while verifying; `opted_out()` serves the opt-out guard. `app.py` opens the client with
`open_kube()`, which yields None when no cluster is reachable so the daemon still runs, as dry-run only.

Every action is split in two: a *prepare* step that GETs fresh state, checks the preconditions and
computes the exact patch and its diff, and an *apply* step that sends that patch. `plan()` runs only the
first and `execute()` runs both, so a dry-run records exactly what execute would have done, and a retry
after a 409 re-reads the object instead of replaying a stale patch.

Objects are read as the API server's JSON (`_preload_content=False`), not as the client's generated
models: a model round-trip drops fields the models do not know, and `rollout undo` writes a ReplicaSet's
template back whole, so it must be byte-faithful. Errors are mapped to what the caller should do
(`TransientActionError`: retry; `PermanentActionError`: escalate; `NotApplicableError`: skip).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.incluster_config import SERVICE_HOST_ENV_NAME, SERVICE_TOKEN_FILENAME
from kubernetes_asyncio.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

from remediator.actions._diff import (
    RESTARTED_AT,
    ROLLED_BACK_AT,
    RolloutStatus,
    controller_uid,
    deletion_order,
    diff,
    get,
    images,
    label_selector,
    micro_time,
    opt_float,
    opt_int,
    opt_out_reason,
    parse_time,
    revision,
    rfc3339,
    rollback_annotations,
    rollout_status_of,
    scale_target,
    static_plan,
    uid_of,
    without_hash,
)
from remediator.clock import Clock
from remediator.config import KubeSettings
from remediator.durations import format_duration
from remediator.errors import (
    ConfigError,
    NotApplicableError,
    PermanentActionError,
    RemediatorError,
    TransientActionError,
)
from remediator.model import ActionKind, ActionResult, ActionSpec, Change, Target, WorkloadKind

__all__ = ["KubeActions", "RolloutStatus", "open_kube", "static_plan"]

log = structlog.stdlib.get_logger(__name__)

REPORTING_CONTROLLER = "remediator.io/remediator"
EVENT_REASON = "Remediated"

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

_RESOURCES: dict[WorkloadKind, str] = {
    "Deployment": "deployments.apps",
    "StatefulSet": "statefulsets.apps",
    "DaemonSet": "daemonsets.apps",
}
_EVENT_ACTIONS: dict[ActionKind, str] = {
    "rollout_restart": "RolloutRestart",
    "rollout_undo": "RolloutUndo",
    "scale": "Scale",
    "set_env": "SetEnv",
    "delete_pod": "DeletePod",
}
_PAGE = 500
"""List page size: one page covers nearly every namespace, yet a huge one cannot time a call out."""


@dataclass(frozen=True, slots=True)
class _Op:
    """One API call, described for error messages: `patch deployments.apps 'cart' in 'shop'`."""

    verb: str
    resource: str
    namespace: str | None
    """None for cluster-scoped resources and non-resource paths."""
    name: str | None = None

    def __str__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        where = f" in {self.namespace!r}" if self.namespace else ""
        return f"{self.verb} {self.resource}{name}{where}"


Apply = Callable[[], Awaitable[tuple[tuple[Change, ...], str]]]
"""Sends the prepared writes; returns the changes actually made and the past-tense summary."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    changes: tuple[Change, ...]
    planned: str
    apply: Apply
    uid: str | None


# ---------------------------------------------------------------------------------------------------------
# Opening the client


@asynccontextmanager
async def open_kube(settings: KubeSettings, *, clock: Clock) -> AsyncIterator[KubeActions | None]:
    """The cluster's `KubeActions`, or None when there is no cluster to act on (every action a dry-run).

    Always a private `Configuration`: the loaders' global default would leak between tests and
    clusters. After loading, one bounded GET /version decides; an unreachable cluster closes the client
    and yields None. A configuration the operator asked for explicitly (`kubeconfig`, `incluster`) that
    cannot be loaded raises `ConfigError` instead: that is a typo to fix, not a cluster being down.
    """
    cfg, mode, why = await _load_configuration(settings)
    if cfg is None:
        # Chosen on purpose with mode 'none': info. Found nothing in 'auto': worth a warning.
        emit = log.info if settings.mode == "none" else log.warning
        emit(f"kubernetes: {why}: every action runs as dry-run", mode=settings.mode)
        yield None
        return
    async with ApiClient(configuration=cfg) as api:
        actions = KubeActions(api, call_timeout_s=settings.call_timeout, clock=clock)
        ok, detail = await actions._probe()
        if ok:
            log.info(f"kubernetes: connected ({mode}, {detail})", mode=mode, host=cfg.host)
            yield actions
            return
    log.warning(
        f"kubernetes: no cluster reachable ({mode} {cfg.host}: {detail}): every action runs as dry-run",
        mode=mode,
        host=cfg.host,
    )
    yield None


async def _load_configuration(settings: KubeSettings) -> tuple[client.Configuration | None, str, str]:
    """(configuration, mode used, why) following `settings.mode`; configuration None means dry-run."""
    mode = _resolve_mode(settings)
    if mode == "none":
        if settings.mode == "none":
            return None, mode, "mode 'none'"
        where = settings.kubeconfig or KUBE_CONFIG_DEFAULT_LOCATION
        return None, "auto", f"no service account mounted and no kubeconfig at {str(where)!r}"
    cfg = client.Configuration()
    path = str(settings.kubeconfig) if settings.kubeconfig else KUBE_CONFIG_DEFAULT_LOCATION
    try:
        if mode == "incluster":
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            # persist_config=False: never write refreshed credentials back into a (read-only) mounted file.
            await config.load_kube_config(
                config_file=path, context=settings.context, client_configuration=cfg, persist_config=False
            )
    except Exception as e:  # the loaders raise ConfigException, OSError, YAML and exec-plugin errors alike
        what = "in-cluster config" if mode == "incluster" else f"kubeconfig {path!r}"
        if settings.mode == "auto":
            return None, mode, f"cannot load {what}: {e}"
        raise ConfigError(f"kubernetes.mode {settings.mode!r}: cannot load {what}: {e}") from e
    return cfg, mode, "loaded"


def _resolve_mode(settings: KubeSettings) -> str:
    """The mode to load: `auto` becomes in-cluster, kubeconfig or none, as DESIGN.md orders them."""
    if settings.mode != "auto":
        return settings.mode
    if os.environ.get(SERVICE_HOST_ENV_NAME) and Path(SERVICE_TOKEN_FILENAME).is_file():
        return "incluster"
    if _kubeconfig_exists(settings.kubeconfig):
        return "kubeconfig"
    return "none"


def _kubeconfig_exists(path: Path | None) -> bool:
    if path is not None:
        return path.is_file()
    # $KUBECONFIG may list several files, as for kubectl.
    return any(Path(p).expanduser().is_file() for p in KUBE_CONFIG_DEFAULT_LOCATION.split(os.pathsep) if p)


# ---------------------------------------------------------------------------------------------------------
# The actions


class KubeActions:
    """The five workload actions, their rollout status and the opt-out check, for one cluster.

    Every API call runs under `call_timeout_s` (kubernetes-asyncio has no default timeout).
    """

    def __init__(self, api: ApiClient, *, call_timeout_s: float, clock: Clock) -> None:
        self._api = api
        self._timeout_s = call_timeout_s
        self._clock = clock
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)
        self._events = client.EventsV1Api(api)
        self._version = client.VersionApi(api)

    async def ping(self) -> bool:
        """True when the API server answers GET /version within the call timeout."""
        ok, _ = await self._probe()
        return ok

    async def _probe(self) -> tuple[bool, str]:
        """Like `ping`, with the server's version or the reason it is unreachable (for the log line)."""
        try:
            info = await self._send(_Op("get", "/version", None), self._version.get_code)
        except RemediatorError as e:
            return False, str(e)
        return True, f"server {info.get('gitVersion', 'unknown version')}"

    async def plan(self, spec: ActionSpec, target: Target) -> ActionResult:
        """What `execute` would change now, from fresh state. Reads only; raises what execute would."""
        prepared = await self._prepare(spec, target)
        return ActionResult(
            kind=spec.kind, target=target, changes=prepared.changes, summary=prepared.planned, applied=False
        )

    async def execute(self, spec: ActionSpec, target: Target) -> ActionResult:
        """Apply the action; the result lists the changes made. Then best-effort record an Event."""
        prepared = await self._prepare(spec, target)
        changes, summary = await prepared.apply()
        result = ActionResult(kind=spec.kind, target=target, changes=changes, summary=summary, applied=True)
        log.debug("kubernetes: applied", action=spec.kind, target=target.key, summary=summary)
        await self._record_event(spec.kind, target, summary, uid=prepared.uid)
        return result

    async def _prepare(self, spec: ActionSpec, target: Target) -> _Plan:
        if spec.kind == "rollout_restart":
            return await self._prepare_restart(spec.params, target)
        if spec.kind == "rollout_undo":
            return await self._prepare_undo(spec.params, target)
        if spec.kind == "scale":
            return await self._prepare_scale(spec.params, target)
        if spec.kind == "set_env":
            return await self._prepare_set_env(spec.params, target)
        if spec.kind == "delete_pod":
            return await self._prepare_delete_pod(spec.params, target)
        raise PermanentActionError(f"unknown Kubernetes action {spec.kind!r}")

    # -- rollout_restart --------------------------------------------------------------------------------

    async def _prepare_restart(self, params: Mapping[str, Any], target: Target) -> _Plan:
        """kubectl rollout restart: stamp the pod template so the controller rolls every pod.

        `unless_rolled_out_within` (Deployments) leaves a fresh rollout alone: after a recent
        deploy the runbook says roll back, and a restart would only roll the bad version again.
        """
        obj = await self._read(target)
        if target.kind == "Deployment" and get(obj, "spec", "paused"):
            raise PermanentActionError(
                f"{target.key}: can't restart paused deployment (run rollout resume first)"
            )
        unless_s = opt_float(params, "unless_rolled_out_within")
        if unless_s is not None and target.kind == "Deployment":
            owned = await self._owned_replica_sets(target, obj)
            stamps = [parse_time(get(obj, "metadata", "annotations", ROLLED_BACK_AT))]
            if owned:
                stamps.append(parse_time(get(max(owned, key=revision), "metadata", "creationTimestamp")))
            known = [t for t in stamps if t is not None]
            if known:
                age_s = max(0.0, (self._clock.now() - max(known)).total_seconds())
                if age_s <= unless_s:
                    raise NotApplicableError(
                        f"rolled out {format_duration(float(int(age_s)))} ago, within "
                        f"{format_duration(unless_s)}: a restart would roll the new version again"
                    )
        now = rfc3339(self._clock.now())
        before = get(obj, "spec", "template", "metadata", "annotations", RESTARTED_AT)
        if before == now:
            # kubectl fails the same way: the patch would be empty, so nothing would roll.
            raise NotApplicableError(f"{target.key} already restarted at {now}")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        change = Change(path=f"spec.template.metadata.annotations[{RESTARTED_AT}]", before=before, after=now)
        done = f"restarted {target.key} (restartedAt {now})"

        async def apply() -> tuple[tuple[Change, ...], str]:
            await self._patch(target, body, STRATEGIC_MERGE)
            return (change,), done

        return _Plan(changes=(change,), planned=f"would restart {target.key}", apply=apply, uid=uid_of(obj))

    # -- rollout_undo -----------------------------------------------------------------------------------

    async def _prepare_undo(self, params: Mapping[str, Any], target: Target) -> _Plan:
        """kubectl rollout undo (rollback.go), plus a resourceVersion test so a concurrent edit fails.

        `only_if_rolled_out_within` is judged on the creation time of the newest revision's ReplicaSet.
        An undo re-uses the old ReplicaSet (the controller only bumps its revision), so right after an
        undo the "last rollout" looks old and a second undo is refused: the conservative answer, which
        stops two rules from flip-flopping a Deployment between two revisions.
        """
        if target.kind != "Deployment":
            raise PermanentActionError(
                f"rollout_undo: {target.key}: only Deployments keep a ReplicaSet history to undo"
            )
        within_s = opt_float(params, "only_if_rolled_out_within")
        to_revision = opt_int(params, "to_revision") or 0
        if to_revision < 0:
            raise PermanentActionError(f"rollout_undo: to_revision {to_revision!r} must not be negative")
        dep = await self._read(target)
        history = sorted(
            ((revision(rs), rs) for rs in await self._owned_replica_sets(target, dep)), key=lambda p: p[0]
        )
        if not history:
            raise NotApplicableError("no rollout history found")
        latest_rev, latest = history[-1]
        if to_revision:
            chosen = next(((r, rs) for r, rs in history if r == to_revision), None)
            if chosen is None:
                raise NotApplicableError(f"revision {to_revision} not found in the rollout history")
        else:
            older = [(r, rs) for r, rs in history if r < latest_rev]
            if not older:
                raise NotApplicableError("no rollout history found")
            chosen = older[-1]
        rev, rs = chosen
        if within_s is not None:
            created = parse_time(get(latest, "metadata", "creationTimestamp"))
            if created is not None:
                age_s = max(0.0, (self._clock.now() - created).total_seconds())
                if age_s > within_s:
                    raise NotApplicableError(
                        f"last rollout {format_duration(float(int(age_s)))} ago, "
                        f"not within {format_duration(within_s)}"
                    )
        if get(dep, "spec", "paused"):
            raise PermanentActionError(
                f"{target.key}: you cannot rollback a paused deployment; resume it first"
            )
        current = without_hash(get(dep, "spec", "template") or {})
        wanted = without_hash(get(rs, "spec", "template") or {})
        if current == wanted:
            raise NotApplicableError(f"current template already matches revision {rev}")
        dep_annotations: dict[str, str] = get(dep, "metadata", "annotations") or {}
        annotations = rollback_annotations(dep_annotations, get(rs, "metadata", "annotations") or {})
        # An undo re-uses an old ReplicaSet, so its creation time says nothing about when it rolled
        # out. Stamp the Deployment (metadata only: no new rollout) so `unless_rolled_out_within`
        # sees the rollback as the rollout it is.
        annotations[ROLLED_BACK_AT] = rfc3339(self._clock.now())
        patch: list[dict[str, Any]] = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": get(dep, "metadata", "resourceVersion"),
            },
            {"op": "replace", "path": "/spec/template", "value": wanted},
            # "add" replaces an existing member too; "replace" would fail if the object had no annotations.
            {
                "op": "replace" if dep_annotations else "add",
                "path": "/metadata/annotations",
                "value": annotations,
            },
        ]
        changes = (
            *diff(current, wanted, "spec.template"),
            *diff(dep_annotations, annotations, "metadata.annotations"),
        )
        what = (
            f"{target.key} from revision {latest_rev} ({images(current)}) "
            f"to revision {rev} ({images(wanted)})"
        )

        async def apply() -> tuple[tuple[Change, ...], str]:
            await self._patch(target, patch, JSON_PATCH)
            return changes, f"rolled back {what}"

        return _Plan(
            changes=changes,
            planned=f"would roll back {what}",
            apply=apply,
            uid=uid_of(dep),
        )

    async def _owned_replica_sets(self, target: Target, dep: Mapping[str, Any]) -> list[dict[str, Any]]:
        """ReplicaSets matching the Deployment's selector and controlled by it (metav1.IsControlledBy)."""
        uid = uid_of(dep)
        selector = label_selector(get(dep, "spec", "selector") or {})
        items = await self._list(
            _Op("list", "replicasets.apps", target.namespace),
            self._apps.list_namespaced_replica_set,
            target.namespace,
            selector,
        )
        return [rs for rs in items if uid is not None and controller_uid(rs) == uid]

    # -- scale ------------------------------------------------------------------------------------------

    async def _prepare_scale(self, params: Mapping[str, Any], target: Target) -> _Plan:
        """Read the scale subresource, compute the bounded count, merge-patch it back with the RV read."""
        if target.kind == "DaemonSet":
            raise PermanentActionError(f"scale: {target.key}: a DaemonSet runs one pod per node, no replicas")
        given = [k for k in ("to", "by", "factor") if params.get(k) is not None]
        if len(given) != 1:
            raise PermanentActionError(
                f"scale needs exactly one of 'to', 'by' or 'factor' (got {given or 'none'})"
            )
        lo, hi = opt_int(params, "min"), opt_int(params, "max")
        if lo is not None and hi is not None and lo > hi:
            raise PermanentActionError(f"scale: min {lo} is above max {hi}")
        reader, patcher = (
            (self._apps.read_namespaced_deployment_scale, self._apps.patch_namespaced_deployment_scale)
            if target.kind == "Deployment"
            else (
                self._apps.read_namespaced_stateful_set_scale,
                self._apps.patch_namespaced_stateful_set_scale,
            )
        )
        resource = f"{_RESOURCES[target.kind]}/scale"
        read_op = _Op("get", resource, target.namespace, target.name)
        scale = await self._send(read_op, reader, target.name, target.namespace)
        current = int(get(scale, "spec", "replicas") or 0)
        desired = scale_target(
            current,
            to=opt_int(params, "to"),
            by=opt_int(params, "by"),
            factor=opt_float(params, "factor"),
            lo=lo,
            hi=hi,
            allow_zero=bool(params.get("allow_zero", False)),
        )
        bounds = ", ".join(f"{n} {v}" for n, v in (("min", lo), ("max", hi)) if v is not None)
        bounds = f" ({bounds})" if bounds else ""
        if desired == current:
            raise NotApplicableError(f"already at {current} replicas{bounds}")
        body: dict[str, Any] = {"spec": {"replicas": desired}}
        if rv := get(scale, "metadata", "resourceVersion"):
            # A resourceVersion in a patch is a precondition: "4 -> 6" must not land on a changed count (409).
            body["metadata"] = {"resourceVersion": rv}
        change = Change(path="spec.replicas", before=current, after=desired)
        what = f"{target.key} {current} -> {desired}{bounds}"

        async def apply() -> tuple[tuple[Change, ...], str]:
            op = _Op("patch", resource, target.namespace, target.name)
            await self._send(op, patcher, target.name, target.namespace, body, _content_type=MERGE)
            return (change,), f"scaled {what}"

        # A Scale carries its workload's uid, so the Event can point at the workload.
        return _Plan(changes=(change,), planned=f"would scale {what}", apply=apply, uid=uid_of(scale))

    # -- set_env ----------------------------------------------------------------------------------------

    async def _prepare_set_env(self, params: Mapping[str, Any], target: Target) -> _Plan:
        """kubectl set env: a strategic merge patch on one container's env, merged by name."""
        name, value = params.get("name"), params.get("value")
        if not isinstance(name, str) or not name:
            raise PermanentActionError(f"set_env: variable name {name!r} is not a non-empty string")
        if value is None:
            raise PermanentActionError(f"set_env: {name}: no value given")
        value = str(value)
        wanted = params.get("container")
        obj = await self._read(target)
        containers: list[dict[str, Any]] = get(obj, "spec", "template", "spec", "containers") or []
        if wanted is None:
            if not containers:
                raise PermanentActionError(f"set_env: {target.key} has no containers")
            container = containers[0]
        else:
            found = [c for c in containers if c.get("name") == wanted]
            if not found:
                names = ", ".join(str(c.get("name")) for c in containers) or "none"
                raise PermanentActionError(
                    f"set_env: container {wanted!r} not found in {target.key} (containers: {names})"
                )
            container = found[0]
        cname = str(container.get("name"))
        existing = next((e for e in container.get("env") or [] if e.get("name") == name), None)
        entry: dict[str, Any] = {"name": name, "value": value}
        before: Any = None
        if existing is not None:
            if "valueFrom" in existing:
                before = {"valueFrom": existing["valueFrom"]}
                entry["valueFrom"] = None  # SMP null deletes it: a var cannot have both value and valueFrom.
            else:
                before = existing.get("value", "")
                if before == value:
                    raise NotApplicableError(f"{name} already {value!r}")
        body = {"spec": {"template": {"spec": {"containers": [{"name": cname, "env": [entry]}]}}}}
        change = Change(
            path=f"spec.template.spec.containers[{cname}].env[{name}]", before=before, after=value
        )
        was = f", was {before!r}" if isinstance(before, str) else ""
        what = f"{name}={value!r} on {target.key} (container {cname}{was})"

        async def apply() -> tuple[tuple[Change, ...], str]:
            await self._patch(target, body, STRATEGIC_MERGE)
            return (change,), f"set {what}"

        return _Plan(changes=(change,), planned=f"would set {what}", apply=apply, uid=uid_of(obj))

    # -- delete_pod -------------------------------------------------------------------------------------

    async def _prepare_delete_pod(self, params: Mapping[str, Any], target: Target) -> _Plan:
        """Delete one named pod, or up to `max` pods by label selector: not-Ready first, then oldest.

        Not-Ready pods go first because they serve nothing, so deleting them costs no capacity; among
        equals the oldest goes first (leaks grow with age), then by name for a stable order. Pods already
        terminating are skipped. With neither `pod` nor `selector`, the target workload's selector is used.
        Each delete carries the pod's UID as a precondition: a pod replaced under the same name meanwhile
        (StatefulSets do that) is never deleted by mistake.
        """
        pod_name, selector = params.get("pod"), params.get("selector")
        limit = opt_int(params, "max")
        limit = 1 if limit is None else limit
        if pod_name and selector:
            raise PermanentActionError("delete_pod takes 'pod' or 'selector', not both")
        if limit < 1:
            raise PermanentActionError(f"delete_pod: max {limit} must be at least 1")
        ns = target.namespace
        uid: str | None = None
        if pod_name:
            op = _Op("get", "pods", ns, str(pod_name))
            pod = await self._send(op, self._core.read_namespaced_pod, str(pod_name), ns, tolerate=(404,))
            if pod is None or get(pod, "metadata", "deletionTimestamp"):
                raise NotApplicableError(f"pod {pod_name!r} not found in {ns!r} (or already terminating)")
            chosen = [pod]
            source = f"pod {pod_name}"
        else:
            if not selector:
                workload = await self._read(target)
                uid = uid_of(workload)
                selector = label_selector(get(workload, "spec", "selector") or {})
                if not selector:
                    raise PermanentActionError(f"delete_pod: {target.key} has no pod selector")
            pods = await self._list(
                _Op("list", "pods", ns), self._core.list_namespaced_pod, ns, str(selector)
            )
            live = [p for p in pods if not get(p, "metadata", "deletionTimestamp")]
            if not live:
                raise NotApplicableError(f"no pod matches {selector!r} in {ns!r}")
            chosen = sorted(live, key=deletion_order)[:limit]
            source = f"selector {selector}"
        changes = tuple(
            Change(
                path=f"pods[{get(p, 'metadata', 'name')}]",
                before=get(p, "status", "phase"),
                after="deleted",
            )
            for p in chosen
        )
        names = ", ".join(str(get(p, "metadata", "name")) for p in chosen)
        count = f"{len(chosen)} pod{'s' if len(chosen) != 1 else ''}"

        async def apply() -> tuple[tuple[Change, ...], str]:
            made: list[Change] = []
            for pod, change in zip(chosen, changes, strict=True):
                name = str(get(pod, "metadata", "name"))
                body = {"preconditions": {"uid": uid_of(pod)}}
                op = _Op("delete", "pods", ns, name)
                try:
                    # 404: already gone; 409: the UID precondition failed, a replacement took the name.
                    gone = await self._send(
                        op, self._core.delete_namespaced_pod, name, ns, body=body, tolerate=(404, 409)
                    )
                except RemediatorError as e:
                    if not made:
                        raise  # nothing changed yet: safe to retry from a fresh list
                    # A retry would pick `max` new pods on top of these: report the partial result instead.
                    log.warning(
                        "kubernetes: pod deletion stopped early", pod=name, namespace=ns, error=str(e)
                    )
                    break
                if gone is None:
                    log.info(
                        "kubernetes: pod gone or replaced before deletion, skipped", pod=name, namespace=ns
                    )
                    continue
                made.append(change)
            if not made:
                raise NotApplicableError(
                    f"pods {names} in {ns!r} were deleted or replaced before remediator acted"
                )
            done = ", ".join(c.path.removeprefix("pods[").removesuffix("]") for c in made)
            if len(made) == len(chosen):
                return tuple(made), f"deleted {count} in {ns} ({source}): {done}"
            return tuple(made), f"deleted {len(made)} of {count} in {ns} ({source}): {done}"

        return _Plan(
            changes=changes,
            planned=f"would delete {count} in {ns} ({source}): {names}",
            apply=apply,
            uid=uid,
        )

    # -- verify and guard helpers -----------------------------------------------------------------------

    async def rollout_status(self, target: Target) -> RolloutStatus:
        """The rollout state as `kubectl rollout status` judges it, from one fresh GET."""
        return rollout_status_of(target.kind, await self._read(target))

    async def opted_out(self, target: Target) -> str | None:
        """Why the target must not be touched, or None.

        The workload, or its namespace, opts out with label or annotation `remediator.io/disabled: "true"`.
        The namespace is read only when the workload itself has not opted out.
        """
        obj = await self._read(target)
        if reason := opt_out_reason(obj, target.key):
            return reason
        op = _Op("get", "namespaces", None, target.namespace)
        ns = await self._send(op, self._core.read_namespace, target.namespace)
        return opt_out_reason(ns, f"namespace {target.namespace!r}")

    # -- plumbing ---------------------------------------------------------------------------------------

    async def _read(self, target: Target) -> dict[str, Any]:
        readers = {
            "Deployment": self._apps.read_namespaced_deployment,
            "StatefulSet": self._apps.read_namespaced_stateful_set,
            "DaemonSet": self._apps.read_namespaced_daemon_set,
        }
        op = _Op("get", _RESOURCES[target.kind], target.namespace, target.name)
        obj: dict[str, Any] = await self._send(op, readers[target.kind], target.name, target.namespace)
        return obj

    async def _patch(self, target: Target, body: Any, content_type: str) -> None:
        patchers = {
            "Deployment": self._apps.patch_namespaced_deployment,
            "StatefulSet": self._apps.patch_namespaced_stateful_set,
            "DaemonSet": self._apps.patch_namespaced_daemon_set,
        }
        op = _Op("patch", _RESOURCES[target.kind], target.namespace, target.name)
        await self._send(
            op, patchers[target.kind], target.name, target.namespace, body, _content_type=content_type
        )

    async def _list(
        self, op: _Op, call: Callable[..., Awaitable[Any]], namespace: str, selector: str
    ) -> list[dict[str, Any]]:
        """Every item of a paginated list call, filtered server-side by the label selector."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"limit": _PAGE}
        if selector:
            kwargs["label_selector"] = selector
        while True:
            page = await self._send(op, call, namespace, **kwargs)
            items.extend(page.get("items") or [])
            token = get(page, "metadata", "continue")
            if not token:
                return items
            kwargs["_continue"] = token

    async def _send(
        self,
        op: _Op,
        call: Callable[..., Awaitable[Any]],
        *args: Any,
        tolerate: Collection[int] = (),
        **kwargs: Any,
    ) -> Any:
        """Run one API call under the timeout and return its JSON body (None for a `tolerate`d status).

        Every failure leaves as a RemediatorError saying what to do about it.
        """
        try:
            async with asyncio.timeout(self._timeout_s):
                resp = await call(*args, _preload_content=False, _request_timeout=self._timeout_s, **kwargs)
                try:
                    data: bytes = await resp.read()
                finally:
                    resp.release()
        except ApiException as e:
            raise self._status_error(op, e.status or 0, e.headers, e.body) from e
        except TimeoutError as e:
            raise TransientActionError(f"{op}: no answer within {self._timeout_s:g}s") from e
        except aiohttp.ClientError as e:
            raise TransientActionError(f"{op}: cannot reach the API server: {e}") from e
        status = int(resp.status)
        if status in tolerate:
            return None
        if not 200 <= status < 300:
            raise self._status_error(op, status, resp.headers, data)
        try:
            return json.loads(data) if data else {}
        except ValueError as e:
            raise TransientActionError(f"{op}: the API server sent invalid JSON") from e

    def _status_error(
        self, op: _Op, status: int, headers: Mapping[str, str] | None, body: Any
    ) -> TransientActionError | PermanentActionError:
        """The API conventions' retry classes: 409/429/5xx retry, other 4xx fail with the server's reason."""
        message = _server_message(body)
        if status == 429:
            retry_after = self._retry_after_s(headers)
            hint = f", Retry-After {retry_after:g}s" if retry_after is not None else ""
            return TransientActionError(
                f"{op}: throttled by the API server (429{hint})", retry_after_s=retry_after
            )
        if status >= 500:
            return TransientActionError(f"{op}: API server error {status}: {message}")
        if status == 409:
            return TransientActionError(f"{op}: conflict: re-read and retry ({message})")
        if status == 422 and "resourceVersion" in message and "test" in message:
            # The JSON Patch "test" op of rollout_undo failed: the object changed since we read it.
            return TransientActionError(f"{op}: conflict: changed since it was read: re-read and retry")
        if status == 404:
            if op.name:
                where = f" in {op.namespace!r}" if op.namespace else ""
                return PermanentActionError(f"{op.resource} {op.name!r} not found{where}")
            return PermanentActionError(f"{op}: not found ({message})")
        if status == 403:
            return PermanentActionError(f"forbidden: cannot {op}: check RBAC ({message})")
        if status == 401:
            return PermanentActionError(f"unauthorized: the API server rejected the credentials ({message})")
        return PermanentActionError(f"{op}: rejected ({status}): {message}")

    def _retry_after_s(self, headers: Mapping[str, str] | None) -> float | None:
        raw = (headers or {}).get("Retry-After")
        if not raw:
            return None
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            return max(0.0, (parsedate_to_datetime(raw) - self._clock.now()).total_seconds())
        except (TypeError, ValueError):
            return None

    async def _record_event(self, kind: ActionKind, target: Target, summary: str, *, uid: str | None) -> None:
        """Best-effort events.k8s.io/v1 Event on the target, so `kubectl describe` shows who acted.

        The action already happened: a failure here is logged, never raised.
        """
        now = self._clock.now()
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
            op = _Op("create", "events.events.k8s.io", target.namespace)
            await self._send(op, self._events.create_namespaced_event, target.namespace, body)
        except Exception as e:
            log.warning("kubernetes: could not record the Event", target=target.key, error=str(e))


def _server_message(body: Any) -> str:
    """The `message` of a Kubernetes Status body, else the body itself (truncated)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return "no details"
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return str(body)[:300]
    if isinstance(parsed, Mapping) and parsed.get("message"):
        return str(parsed["message"])[:300]
    return str(body)[:300]


def _instance() -> str:
    """reportingInstance: the pod's name when the Downward API gives it, else the host name."""
    return os.environ.get("POD_NAME") or socket.gethostname()
