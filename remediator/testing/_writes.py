"""The fake API server's write verbs: create, update (PUT), patch, delete, evict.

Optimistic concurrency on resourceVersion and uid preconditions, server-owned fields,
defaulting then validation, dry runs, PUT-creates for the kinds that allow it (Leases,
Events), graceful deletion with propagation policies, and the eviction subresource.
A write commits to the store and answers with what the store holds right after it:
controllers act later on the timeline, except in instant mode, where they settle first.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remediator.testing import _resources as r
from remediator.testing._controllers import Controllers
from remediator.testing._errors import (
    ApiError,
    Cause,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
)
from remediator.testing._events import from_events_v1, to_events_v1, with_core_defaults
from remediator.testing._lists import select
from remediator.testing._objects import NODES, apply_defaults, scale_view
from remediator.testing._patch import PATCH_TYPES, PatchError, apply
from remediator.testing._pods import host_ip_of, pod_status
from remediator.testing._resources import Resource
from remediator.testing._store import Obj, Store
from remediator.testing._validation import check_decodable, validate

_APPLY_PATCH = "application/apply-patch+yaml"
_PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
_SERVER_OWNED = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")
JOB_LABELS = (
    ("job-name", "batch.kubernetes.io/job-name", "name"),
    ("controller-uid", "batch.kubernetes.io/controller-uid", "uid"),
)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None
    """A text/plain body (pods/log) instead of JSON."""


@dataclass(frozen=True, slots=True)
class Target:
    res: Resource
    namespace: str | None
    name: str | None
    sub: str | None

    @property
    def kind(self) -> str:
        """The stored kind (events.k8s.io Events live as core Events)."""
        return "Event" if self.res is r.EVENTS_V1 else self.res.kind


def _strip_nulls(value: Any) -> Any:
    """Go decoding turns JSON null into the zero value, which the server then omits."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _success(res: Resource, obj: Obj) -> dict[str, Any]:
    details: dict[str, Any] = {"name": obj["metadata"]["name"]}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    details["uid"] = obj["metadata"]["uid"]
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


class Writes:
    store: Store
    controllers: Controllers

    # --- shared helpers --------------------------------------------------------------------------

    def _require(self, t: Target) -> Obj:
        assert t.name is not None
        obj = self.store.get(t.kind, t.namespace or "", t.name)
        if obj is None:
            raise not_found(t.res.plural, t.res.group, t.name)
        return obj

    @staticmethod
    def _object_body(raw: bytes) -> dict[str, Any]:
        body = parse_json(raw) if raw else None
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        return body

    @staticmethod
    def _out(res: Resource, obj: Obj, *, in_list: bool = False) -> Obj:
        out = to_events_v1(obj) if res is r.EVENTS_V1 else copy.deepcopy(obj)
        if in_list:
            out.pop("kind", None)
            out.pop("apiVersion", None)
        return out

    @staticmethod
    def _in(res: Resource, body: Mapping[str, Any]) -> Obj:
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version and api_version != res.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({res.api_version})"
            )
        if kind and kind != res.kind:
            raise bad_request(f'{kind} in version "{res.version}" cannot be handled as a {res.kind}')
        check_decodable(body, kind=res.kind, version=res.version)
        obj: Obj = _strip_nulls(dict(body))
        if res is r.EVENTS_V1:
            return from_events_v1(obj)
        stored = r.STORED[res.kind]
        obj["apiVersion"], obj["kind"] = stored.api_version, stored.kind
        return obj

    def _raise_invalid(self, t: Target, obj: Obj, old: Obj | None) -> None:
        causes = validate(t.kind, obj, old, strict_event=t.res is r.EVENTS_V1)
        if causes:
            raise invalid(t.res.kind, t.res.group, obj["metadata"].get("name", ""), causes)

    def _fresh(self, t: Target, obj: Obj) -> Obj:
        """After the write (and, in instant mode, the controllers): what the store holds now."""
        self.controllers.after_write()
        meta = obj["metadata"]
        return self.store.get(t.kind, meta.get("namespace", ""), meta["name"]) or obj

    # --- create ----------------------------------------------------------------------------------

    def _create(self, t: Target, body: dict[str, Any], dry: bool) -> Response:
        obj = self._in(t.res, body)
        meta = obj.setdefault("metadata", {})
        namespace = ""
        if t.res.namespaced:
            assert t.namespace is not None
            namespace = t.namespace
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
            ns = self.store.get("Namespace", "", namespace)
            if ns is None:
                raise not_found("namespaces", "", namespace)
            if ns["metadata"].get("deletionTimestamp"):
                message = (
                    f"unable to create new content in namespace {namespace} because it is being terminated"
                )
                raise ApiError(
                    403,
                    f'{t.res.plural} "{meta.get("name", "")}" is forbidden: {message}',
                    details={
                        "name": meta.get("name", ""),
                        "kind": t.res.plural,
                        "causes": [
                            {
                                "reason": "NamespaceTerminating",
                                "message": message,
                                "field": "metadata.namespace",
                            }
                        ],
                    },
                )
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise ApiError(500, "resourceVersion should not be set on objects to be created")
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(
                    t.res.kind,
                    t.res.group,
                    "",
                    [Cause.required("metadata.name", "name or generateName is required")],
                )
            meta["name"] = self.store.unique_name(t.kind, namespace, meta["generateName"])
        for server_owned in _SERVER_OWNED:
            meta.pop(server_owned, None)
        meta["uid"] = self.store.new_uid()
        apply_defaults(t.kind, obj)
        self._prepare_create(t.kind, obj)
        self._raise_invalid(t, obj, None)
        if self.store.get(t.kind, namespace, meta["name"]) is not None:
            raise already_exists(t.res.plural, t.res.group, meta["name"])
        if dry:
            meta["creationTimestamp"] = self.store.timestamp()
            return Response(201, self._out(t.res, obj))
        self.store.insert(t.kind, obj)
        return Response(201, self._out(t.res, self._fresh(t, obj)))

    def _prepare_create(self, kind: str, obj: Obj) -> None:
        """`PrepareForCreate`: status is the server's, and Jobs get their generated selector."""
        if kind == "Pod":
            spec = obj["spec"]
            spec.setdefault("nodeName", self.store.rng.choice(NODES))
            ip = f"10.244.{self.store.rng.randint(0, 255)}.{self.store.rng.randint(2, 254)}"
            obj["status"] = pod_status(
                spec,
                state="pending",
                at=self.store.timestamp(),
                pod_ip=ip,
                host_ip=host_ip_of(spec["nodeName"]),
            )
        elif kind == "Job":
            obj["status"] = {}
            if not obj["spec"].get("manualSelector"):
                self._generate_job_selector(obj)
        elif kind == "PodDisruptionBudget":
            obj["status"] = {
                "disruptionsAllowed": 0,
                "currentHealthy": 0,
                "desiredHealthy": 0,
                "expectedPods": 0,
            }
        elif kind in r.WORKLOAD_KINDS:
            obj["status"] = {}
        elif kind == "Event":
            with_core_defaults(obj)

    @staticmethod
    def _generate_job_selector(job: Obj) -> None:
        """`generateSelector`: the job-name and controller-uid labels, legacy and prefixed."""
        meta = job["metadata"]
        template_meta = job["spec"].setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        # Defaulting gave a label-less Job its template's label map: the same map, so it gains
        # the generated labels too.
        shared = bool(labels) and meta.get("labels") == labels
        for legacy, prefixed, source in JOB_LABELS:
            for key in (legacy, prefixed):
                labels.setdefault(key, meta[source])
        selector = job["spec"].setdefault("selector", {})
        selector.setdefault("matchLabels", {}).setdefault("batch.kubernetes.io/controller-uid", meta["uid"])
        if shared:
            meta["labels"] = dict(labels)

    # --- update and patch ------------------------------------------------------------------------

    def _update(self, t: Target, body: dict[str, Any], dry: bool) -> Response:
        assert t.name is not None
        current = self.store.get(t.kind, t.namespace or "", t.name)
        if current is None:
            if not t.res.create_on_update:
                raise not_found(t.res.plural, t.res.group, t.name)
            given = (body.get("metadata") or {}).get("name")
            if given != t.name:
                raise bad_request(
                    f"the name of the object ({given or ''}) does not match the name on the URL ({t.name})"
                )
            body = {**body, "metadata": {k: v for k, v in body["metadata"].items() if k != "resourceVersion"}}
            return self._create(t, body, dry)
        return Response(200, self._out(t.res, self._replace(t, current, self._in(t.res, body), dry)))

    def _replace(self, t: Target, current: Obj, obj: Obj, dry: bool) -> Obj:
        meta, cur = obj.setdefault("metadata", {}), current["metadata"]
        if meta.get("name") != cur["name"]:
            given = meta.get("name", "")
            raise bad_request(
                f"the name of the object ({given}) does not match the name on the URL ({cur['name']})"
            )
        if t.res.namespaced:
            if meta.get("namespace") not in (None, "", cur["namespace"]):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = cur["namespace"]
        self._check_preconditions(t, current, uid=meta.get("uid"), rv=meta.get("resourceVersion"))
        for server_owned in _SERVER_OWNED:
            if server_owned in cur:
                meta[server_owned] = cur[server_owned]
            else:
                meta.pop(server_owned, None)
        if t.res.has_status:
            if "status" in current:
                obj["status"] = copy.deepcopy(current["status"])
            else:
                obj.pop("status", None)
        apply_defaults(t.kind, obj)
        self._raise_invalid(t, obj, current)
        if dry:
            meta["resourceVersion"] = cur["resourceVersion"]
            return obj
        self.store.save(t.kind, obj)
        if self.controllers.deleter.finalize(t.kind, obj):
            return self.store.get(t.kind, cur.get("namespace", ""), cur["name"]) or obj
        return self._fresh(t, obj)

    def _check_preconditions(self, t: Target, current: Obj, *, uid: Any, rv: Any) -> None:
        cur = current["metadata"]
        if uid and uid != cur["uid"]:
            raise conflict(
                t.res.plural,
                t.res.group,
                cur["name"],
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {cur['uid']}",
            )
        if rv and rv != cur["resourceVersion"]:
            raise conflict(t.res.plural, t.res.group, cur["name"])

    def _patch(self, t: Target, content_type: str | None, raw: bytes, dry: bool) -> Response:
        mime = (content_type or "").split(";")[0].strip().lower()
        if mime not in PATCH_TYPES:
            raise ApiError(
                415,
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join([*PATCH_TYPES, _APPLY_PATCH])
                + (
                    ""
                    if mime != _APPLY_PATCH
                    else " (server-side apply is not implemented by FakeKubeServer)"
                ),
            )
        patch = parse_json(raw) if raw else None
        current = self._require(t)
        view = scale_view(current) if t.sub == "scale" else self._out(t.res, current)
        try:
            patched = apply(mime, view, patch)
        except PatchError as exc:
            raise ApiError(exc.code, exc.message) from None
        if not isinstance(patched, dict):
            raise bad_request("the patched object is not a JSON object")
        if t.sub:
            return self._write_sub(t, patched, dry)
        return Response(200, self._out(t.res, self._replace(t, current, self._in(t.res, patched), dry)))

    def _write_sub(self, t: Target, body: dict[str, Any], dry: bool) -> Response:
        current = self._require(t)
        meta = body.get("metadata") or {}
        self._check_preconditions(t, current, uid=meta.get("uid"), rv=meta.get("resourceVersion"))
        if t.sub == "scale":
            check_decodable(body, kind="Scale", version="v1")
            replicas = (body.get("spec") or {}).get("replicas", 0)
            if replicas < 0:
                raise invalid(
                    "Scale",
                    "autoscaling",
                    current["metadata"]["name"],
                    [Cause.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
                )
            updated = copy.deepcopy(current)
            updated["spec"]["replicas"] = int(replicas)
            return Response(200, scale_view(self._replace(t, current, updated, dry)))
        obj = self._in(t.res, body)
        updated = copy.deepcopy(current)
        updated["status"] = obj.get("status", {})
        if dry:
            return Response(200, self._out(t.res, updated))
        self.store.save(t.kind, updated)
        return Response(200, self._out(t.res, self._fresh(t, updated)))

    # --- delete and evict ------------------------------------------------------------------------

    def _delete(self, t: Target, query: Mapping[str, str], options: Any, dry: bool) -> Response:
        current = self._require(t)
        if not isinstance(options, dict):
            raise bad_request("the body of the request must be a DeleteOptions object")
        self._delete_preconditions(t, current, options.get("preconditions") or {})
        cur = current["metadata"]
        policy = options.get("propagationPolicy") or query.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{policy}"')
        orphan_flag = options.get("orphanDependents")
        if policy is None and orphan_flag is not None:
            policy = "Orphan" if orphan_flag else "Background"
        if policy is None and t.kind == "Job":
            policy = "Orphan"  # batch/v1's DefaultGarbageCollectionPolicy, kept for compatibility
        if t.kind == "Namespace" and cur["name"] in _PROTECTED_NAMESPACES:
            raise ApiError(
                403,
                f'namespaces "{cur["name"]}" is forbidden: this namespace may not be deleted',
                details={"name": cur["name"], "kind": "namespaces"},
            )
        raw_grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        grace = int(raw_grace) if raw_grace is not None else None
        if dry:
            return Response(
                200, self._out(t.res, current) if t.kind in ("Pod", "Namespace") else _success(t.res, current)
            )
        result = self.controllers.deleter.delete(
            t.kind, cur.get("namespace", ""), cur["name"], grace=grace, policy=policy
        )
        assert result is not None
        self.controllers.after_write()
        still_there = self.store.get(t.kind, cur.get("namespace", ""), cur["name"]) is not None
        if t.kind in ("Pod", "Namespace") or (still_there and result["metadata"].get("deletionTimestamp")):
            status = (
                202 if still_there and orphan_flag is False and t.kind not in ("Pod", "Namespace") else 200
            )
            return Response(status, self._out(t.res, result))
        return Response(200, _success(t.res, result))

    def _delete_preconditions(self, t: Target, current: Obj, pre: Mapping[str, Any]) -> None:
        cur = current["metadata"]
        if pre.get("uid") and pre["uid"] != cur["uid"]:
            raise conflict(
                t.res.plural,
                t.res.group,
                cur["name"],
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {cur['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != cur["resourceVersion"]:
            raise conflict(
                t.res.plural,
                t.res.group,
                cur["name"],
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {cur['resourceVersion']}",
            )

    def _evict(self, t: Target, body: dict[str, Any], dry: bool) -> Response:
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version not in (None, "policy/v1", "policy/v1beta1") or kind not in (None, "Eviction"):
            raise bad_request(f"not a Eviction object: {api_version}, Kind={kind}")
        if (body.get("metadata") or {}).get("name") != t.name:
            raise bad_request("name in URL does not match name in Eviction object")
        pod = self._require(t)
        options = body.get("deleteOptions") or {}
        self._delete_preconditions(t, pod, options.get("preconditions") or {})
        dry = dry or options.get("dryRun") == ["All"]
        grace = options.get("gracePeriodSeconds")
        self.controllers.disruption.evict(pod, grace=int(grace) if grace is not None else None, dry=dry)
        self.controllers.after_write()
        return Response(
            201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        )

    def _delete_collection(self, t: Target, query: Mapping[str, str], dry: bool) -> Response:
        items = select(
            self.store.items(t.kind, t.namespace),
            query,
            group=t.res.group,
            kind=t.res.kind,
            view=lambda o: self._out(t.res, o),
        )
        if not dry:
            for obj in items:
                self.controllers.deleter.delete(
                    t.kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                )
            self.controllers.after_write()
        body = {
            "kind": t.res.list_kind,
            "apiVersion": t.res.api_version,
            "metadata": {"resourceVersion": str(self.store.revision)},
            "items": [self._out(t.res, o, in_list=True) for o in items],
        }
        return Response(200, body)
