"""REST semantics of the fake API server: one request in, one response out.

This is the part that must match kube-apiserver on the wire: URL layout, verbs,
subresources (`scale`, `status`, `eviction`, `log`), lists with selectors and paging,
watches, and Status errors. The write verbs live in `_writes`. It knows nothing about
aiohttp; `FakeKubeServer` adapts it, adding auth, fault injection, request recording and
the streaming of watches around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.testing import _resources as r
from remediator.testing._controllers import Controllers
from remediator.testing._errors import ApiError, bad_request, method_not_allowed
from remediator.testing._lists import page, parse_selectors, select
from remediator.testing._logs import read_log
from remediator.testing._objects import scale_view
from remediator.testing._store import Store
from remediator.testing._watch import ChangeLog, WatchRequest, parse_watch
from remediator.testing._writes import Response, Target, Writes, parse_json

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"", "0", "f", "F", "FALSE", "false", "False"})
"""Go's `strconv.ParseBool`, which decodes the `watch` parameter: kubernetes-asyncio sends
`watch=True` (Python's bool), kubectl and client-go send `true`."""


def _no_route() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})


class KubeApi(Writes):
    def __init__(self, store: Store, controllers: Controllers) -> None:
        self.store = store
        self.controllers = controllers
        self.changes = ChangeLog(store)
        self.host = "127.0.0.1"

    # --- entry point -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, str], content_type: str | None, raw: bytes
    ) -> Response | WatchRequest:
        try:
            return self._dispatch(method.upper(), path, query, content_type, raw)
        except ApiError as exc:
            return Response(exc.code, exc.status(), exc.headers)

    def _dispatch(
        self, method: str, path: str, query: Mapping[str, str], content_type: str | None, raw: bytes
    ) -> Response | WatchRequest:
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
                watch = query.get("watch", "")
                if watch in _TRUE:
                    return self._watch(target, query)
                if watch not in _FALSE:
                    raise bad_request(f'strconv.ParseBool: parsing "{watch}": invalid syntax')
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
                return self._delete(target, query, parse_json(raw) if raw else {}, dry)
        elif target.sub == "eviction":
            if method == "POST":
                return self._evict(target, self._object_body(raw), dry)
        elif target.sub == "log":
            if method == "GET":
                pod = self._require(target)
                text = read_log(self.controllers.logs, pod, query, now=self.store.now())
                return Response(200, None, text=text)
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

    def _route(self, parts: list[str]) -> Target:
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
        return Target(res, namespace, name, sub)

    # --- collections -----------------------------------------------------------------------------

    def _list(self, t: Target, query: Mapping[str, str]) -> Response:
        chosen = select(
            self.store.items(t.kind, t.namespace),
            query,
            group=t.res.group,
            kind=t.res.kind,
            view=lambda o: self._out(t.res, o),
        )
        items, meta = page(chosen, query, revision=self.store.revision)
        body = {
            "kind": t.res.list_kind,
            "apiVersion": t.res.api_version,
            "metadata": meta,
            "items": [self._out(t.res, o, in_list=True) for o in items],
        }
        return Response(200, body)

    def _watch(self, t: Target, query: Mapping[str, str]) -> WatchRequest:
        selector = parse_selectors(query, group=t.res.group, kind=t.res.kind)
        return parse_watch(t.res, t.kind, t.namespace, query, selector, lambda o: self._out(t.res, o))
