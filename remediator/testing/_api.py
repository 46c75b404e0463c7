"""REST semantics of the fake API server: one request in, one response out, synchronously.

This is the part that must match kube-apiserver on the wire: URL layout, verbs,
optimistic concurrency on resourceVersion, create/update/patch/delete rules,
subresources (`scale`, `status`, `eviction`), lists with selectors and paging,
and Status errors. It knows nothing about aiohttp; `FakeKubeServer` adapts it,
adding auth, fault injection and request recording around it.
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
    method_not_allowed,
    not_found,
)
from remediator.testing._events import from_events_v1, to_events_v1, with_core_defaults
from remediator.testing._lists import page, select
from remediator.testing._objects import NODES, apply_defaults, pod_status, scale_view
from remediator.testing._patch import PATCH_TYPES, PatchError, apply
from remediator.testing._resources import Resource
from remediator.testing._store import Obj, Store
from remediator.testing._validation import check_decodable, validate

_APPLY_PATCH = "application/apply-patch+yaml"
_PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Target:
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


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _no_route() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})


def _success(res: Resource, obj: Obj) -> dict[str, Any]:
    details: dict[str, Any] = {"name": obj["metadata"]["name"]}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    details["uid"] = obj["metadata"]["uid"]
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


class KubeApi:
    def __init__(self, store: Store, controllers: Controllers) -> None:
        self.store = store
        self.controllers = controllers
        self.host = "127.0.0.1"

    # --- entry point -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, str], content_type: str | None, raw: bytes
    ) -> Response:
        try:
            return self._dispatch(method.upper(), path, query, content_type, raw)
        except ApiError as exc:
            return Response(exc.code, exc.status(), exc.headers)

    def _dispatch(
        self, method: str, path: str, query: Mapping[str, str], content_type: str | None, raw: bytes
    ) -> Response:
        parts = [p for p in path.split("/") if p]
        discovery = self._discovery(parts)
        if discovery is not None:
            if method != "GET":
                raise method_not_allowed(method, path)
            return Response(200, discovery)
        target = self._route(parts)
        dry_run = query.get("dryRun")
        if dry_run not in (None, "All"):
            raise bad_request(f'dryRun: Unsupported value: "{dry_run}": supported values: "All"')
        dry = dry_run == "All"
        if target.name is None:
            if method == "GET":
                if query.get("watch") in ("true", "1"):
                    raise bad_request("watch is not implemented by FakeKubeServer")
                return self._list(target, query)
            writable = target.namespace is not None or not target.res.namespaced
            if method == "POST" and writable:
                return self._create(target, self._object_body(raw), dry)
            if method == "DELETE" and writable:
                return self._delete_collection(target, query, dry)
            raise method_not_allowed(method, path)
        if target.sub is None:
            if method == "GET":
                return Response(200, self._out(target.res, self._require(target)))
            if method == "PUT":
                return self._update(target, self._object_body(raw), dry)
            if method == "PATCH":
                return self._patch(target, content_type, raw, dry)
            if method == "DELETE":
                return self._delete(target, query, _parse_json(raw) if raw else {}, dry)
        elif target.sub == "eviction":
            if method == "POST":
                return self._evict(target, dry)
        elif target.sub in ("status", "scale"):
            if method == "GET":
                current = self._require(target)
                view = scale_view(current) if target.sub == "scale" else self._out(target.res, current)
                return Response(200, view)
            if method == "PUT":
                return self._write_sub(target, self._object_body(raw), dry)
            if method == "PATCH":
                return self._patch(target, content_type, raw, dry)
        raise method_not_allowed(method, path)

    # --- routing ---------------------------------------------------------------------------------

    def _discovery(self, parts: list[str]) -> Any:
        if parts == ["version"]:
            return dict(r.SERVER_VERSION)
        if parts == ["api"]:
            return r.api_versions(self.host)
        if parts == ["apis"]:
            return r.api_group_list()
        doc: dict[str, Any] | None
        if len(parts) == 2 and parts[0] == "apis":
            doc = r.api_group(parts[1])
        elif parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            doc = r.api_resource_list("" if parts[0] == "api" else parts[1], parts[-1])
        else:
            return None
        if doc is None:
            raise _no_route()
        return doc

    def _route(self, parts: list[str]) -> _Target:
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _no_route()
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            nested = r.find(group, version, rest[2])
            if nested is not None and nested.namespaced:
                namespace, rest = rest[1], rest[2:]
        res = r.find(group, version, rest[0]) if rest else None
        if res is None or len(rest) > 3 or (res.namespaced and namespace is None and len(rest) > 1):
            raise _no_route()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in res.subresources:
            raise _no_route()
        return _Target(res, namespace, name, sub)

    # --- helpers ---------------------------------------------------------------------------------

    def _require(self, t: _Target) -> Obj:
        assert t.name is not None
        obj = self.store.get(t.kind, t.namespace or "", t.name)
        if obj is None:
            raise not_found(t.res.plural, t.res.group, t.name)
        return obj

    @staticmethod
    def _object_body(raw: bytes) -> dict[str, Any]:
        body = _parse_json(raw) if raw else None
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

    def _raise_invalid(self, t: _Target, obj: Obj, old: Obj | None) -> None:
        causes = validate(t.kind, obj, old, strict_event=t.res is r.EVENTS_V1)
        if causes:
            raise invalid(t.res.kind, t.res.group, obj["metadata"].get("name", ""), causes)

    # --- verbs -----------------------------------------------------------------------------------

    def _create(self, t: _Target, body: dict[str, Any], dry: bool) -> Response:
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
            if self.store.get("Namespace", "", namespace) is None:
                raise not_found("namespaces", "", namespace)
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
        for server_owned in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(server_owned, None)
        apply_defaults(t.kind, obj)
        self._reset_status(t.kind, obj)
        self._raise_invalid(t, obj, None)
        if self.store.get(t.kind, namespace, meta["name"]) is not None:
            raise already_exists(t.res.plural, t.res.group, meta["name"])
        if dry:
            meta["uid"] = self.store.new_uid()
            meta["creationTimestamp"] = self.store.timestamp()
            return Response(201, self._out(t.res, obj))
        self.store.insert(t.kind, obj)
        if t.kind == "Pod" and not self.controllers.instant:
            self.controllers.track_starting(obj)
        self.controllers.reconcile(t.namespace, kind=t.kind)
        return Response(201, self._out(t.res, self.store.get(t.kind, namespace, meta["name"]) or obj))

    def _reset_status(self, kind: str, obj: Obj) -> None:
        """Status is the server's on create; clients' values are dropped, as PrepareForCreate does."""
        if kind == "Pod":
            spec = obj["spec"]
            spec.setdefault("nodeName", self.store.rng.choice(NODES))
            host_ip = f"10.0.0.{NODES.index(spec['nodeName']) + 1 if spec['nodeName'] in NODES else 9}"
            ip = f"10.244.{self.store.rng.randint(0, 255)}.{self.store.rng.randint(2, 254)}"
            phase = "Running" if self.controllers.instant else "Pending"
            obj["status"] = pod_status(
                spec, phase=phase, at=self.store.timestamp(), pod_ip=ip, host_ip=host_ip
            )
        elif kind in r.WORKLOAD_KINDS:
            obj["status"] = {}
        elif kind == "Event":
            with_core_defaults(obj)

    def _update(self, t: _Target, body: dict[str, Any], dry: bool) -> Response:
        current = self._require(t)
        return Response(200, self._out(t.res, self._replace(t, current, self._in(t.res, body), dry)))

    def _replace(self, t: _Target, current: Obj, obj: Obj, dry: bool) -> Obj:
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
        for server_owned in ("uid", "creationTimestamp", "generation"):
            if server_owned in cur:
                meta[server_owned] = cur[server_owned]
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
        self.controllers.reconcile(t.namespace, kind=t.kind)
        return self.store.get(t.kind, cur.get("namespace", ""), cur["name"]) or obj

    def _check_preconditions(self, t: _Target, current: Obj, *, uid: Any, rv: Any) -> None:
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

    def _patch(self, t: _Target, content_type: str | None, raw: bytes, dry: bool) -> Response:
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
        patch = _parse_json(raw) if raw else None
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

    def _write_sub(self, t: _Target, body: dict[str, Any], dry: bool) -> Response:
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
        if t.kind == "Pod":  # pod readiness feeds ReplicaSet/Deployment status; workload status must stick
            self.controllers.reconcile(t.namespace, kind=t.kind)
        return Response(
            200,
            self._out(
                t.res, self.store.get(t.kind, t.namespace or "", current["metadata"]["name"]) or updated
            ),
        )

    def _delete(self, t: _Target, query: Mapping[str, str], options: Any, dry: bool) -> Response:
        current = self._require(t)
        if not isinstance(options, dict):
            raise bad_request("the body of the request must be a DeleteOptions object")
        pre = options.get("preconditions") or {}
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
        policy = options.get("propagationPolicy") or query.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise bad_request(f'propagationPolicy: Unsupported value: "{policy}"')
        orphan = policy == "Orphan" or (policy is None and options.get("orphanDependents") is True)
        if t.kind == "Namespace" and cur["name"] in _PROTECTED_NAMESPACES:
            raise ApiError(
                403,
                f'namespaces "{cur["name"]}" is forbidden: this namespace may not be deleted',
                details={"name": cur["name"], "kind": "namespaces"},
            )
        removed = (
            copy.deepcopy(current)
            if dry
            else self.controllers.delete(t.kind, cur.get("namespace", ""), cur["name"], orphan=orphan)
        )
        assert removed is not None
        if not dry:
            self.controllers.reconcile(t.namespace, kind=t.kind)
        if t.kind == "Pod":
            grace = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
            grace = (
                int(grace) if grace is not None else current["spec"].get("terminationGracePeriodSeconds", 30)
            )
            if grace:
                removed["metadata"]["deletionTimestamp"] = self.store.timestamp()
                removed["metadata"]["deletionGracePeriodSeconds"] = grace
            return Response(200, self._out(t.res, removed))
        if t.kind == "Namespace":
            removed["metadata"]["deletionTimestamp"] = self.store.timestamp()
            removed["status"] = {"phase": "Terminating"}
            return Response(200, self._out(t.res, removed))
        return Response(200, _success(t.res, removed))

    def _evict(self, t: _Target, dry: bool) -> Response:
        current = self._require(t)
        if not dry:
            self.controllers.delete("Pod", current["metadata"]["namespace"], current["metadata"]["name"])
            self.controllers.reconcile(t.namespace, kind=t.kind)
        return Response(
            201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        )

    # --- collections -----------------------------------------------------------------------------

    def _select(self, t: _Target, query: Mapping[str, str]) -> list[Obj]:
        return select(self.store.items(t.kind, t.namespace), query, view=lambda o: self._out(t.res, o))

    def _list(self, t: _Target, query: Mapping[str, str]) -> Response:
        items, meta = page(self._select(t, query), query, revision=self.store.revision)
        body = {
            "kind": t.res.list_kind,
            "apiVersion": t.res.api_version,
            "metadata": meta,
            "items": [self._out(t.res, o, in_list=True) for o in items],
        }
        return Response(200, body)

    def _delete_collection(self, t: _Target, query: Mapping[str, str], dry: bool) -> Response:
        items = self._select(t, query)
        if not dry:
            for obj in items:
                self.controllers.delete(t.kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            self.controllers.reconcile(t.namespace, kind=t.kind)
        body = {
            "kind": t.res.list_kind,
            "apiVersion": t.res.api_version,
            "metadata": {"resourceVersion": str(self.store.revision)},
            "items": [self._out(t.res, o, in_list=True) for o in items],
        }
        return Response(200, body)
