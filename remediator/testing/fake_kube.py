"""A stateful fake Kubernetes API server on 127.0.0.1, for tests and `remediator test`.

Remediation actions are exercised through the real kubernetes_asyncio client against
this server, because the bugs that matter live on the wire: patch content types,
resourceVersion conflicts, Status error bodies, rate limits. The server keeps
Deployments, ReplicaSets, StatefulSets, DaemonSets, Pods, Events, Namespaces and
Leases; runs a synchronous controller after every write (so a rollout restart
shows its new ReplicaSet and pods on the next GET); records every request; and
fails or slows requests on demand.

    async with FakeKubeServer() as kube:
        kube.add_deployment("shop", "web", revisions=["web:v1"], image="web:v2")
        cfg_path = kube.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # drive product code with a client built from cfg_path
        assert [w.path for w in kube.writes] == ["/apis/apps/v1/namespaces/shop/deployments/web"]

It deliberately does not import kubernetes_asyncio: it is the server side.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import json
import pathlib
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiohttp import web

from remediator.testing import _errors
from remediator.testing._api import KubeApi
from remediator.testing._controllers import Controllers
from remediator.testing._objects import (
    apply_defaults,
    new_pod,
    owner_reference,
    pod_template,
    templates_equal,
    workload,
)
from remediator.testing._resources import stored_kind
from remediator.testing._store import Obj, Store
from remediator.testing._validation import validate

RolloutMode = Literal["instant", "manual"]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN = "fake-token"
_HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_PUBLIC_PATHS = _HEALTH_PATHS | {"/version"}
"""Paths a real cluster serves to anonymous clients (health checks run before auth is set up)."""
_SEED_AGE = timedelta(days=1)
"""How long ago seeded workloads rolled out by default: long enough not to count as a recent deploy."""


@dataclass(slots=True, kw_only=True)
class RecordedRequest:
    """One request as the server received it; `status` is filled in when the response is ready."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any
    status: int = 0
    """HTTP status answered, 0 while the request is still being handled."""

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"


@dataclass(slots=True, kw_only=True)
class Fault:
    """An injected failure: the next `times` matching requests get `status` after `delay` seconds."""

    status: int
    method: str | None
    path: str | None
    times: int
    retry_after: float | None
    delay: float
    body: str | None
    hits: int = 0

    @property
    def remaining(self) -> int:
        return self.times - self.hits

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


class FakeKubeServer:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        rollout: RolloutMode = "instant",
    ) -> None:
        """`clock` stamps creation and event times (pass a FakeClock's `now` for simulated time).

        `rollout="manual"` freezes workload status and leaves new pods Pending until
        `complete_rollouts()`, to test verification of rollouts that never finish.
        """
        self.rollout: RolloutMode = rollout
        self._store = Store(clock or (lambda: datetime.now(UTC)))
        self._controllers = Controllers(self._store, instant=rollout == "instant")
        self._api = KubeApi(self._store, self._controllers)
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.add_namespace(namespace)

    # --- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeKubeServer:
        if self._runner is not None:
            raise RuntimeError("FakeKubeServer is already running")
        app = web.Application(client_max_size=3 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        port = sock.getsockname()[1]
        self._runner = runner
        self._url = f"http://127.0.0.1:{port}"
        self._api.host = f"127.0.0.1:{port}"
        self._closing.clear()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()  # wake requests sleeping in an injected delay
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("FakeKubeServer is not started; use `async with FakeKubeServer() as kube`")
        return self._url

    def write_kubeconfig(self, path: pathlib.Path, *, namespace: str = "default") -> pathlib.Path:
        """Write a kubeconfig for this server (plain http, bearer token `fake-token`) and return its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: fake\n"
            "  cluster:\n"
            f"    server: {json.dumps(self.url)}\n"
            "contexts:\n"
            "- name: fake\n"
            "  context:\n"
            "    cluster: fake\n"
            "    user: fake\n"
            f"    namespace: {json.dumps(namespace)}\n"
            "current-context: fake\n"
            "preferences: {}\n"
            "users:\n"
            "- name: fake\n"
            "  user:\n"
            f"    token: {TOKEN}\n"
        )
        return path

    # --- HTTP ------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            content_type=request.headers.get("Content-Type"),
            body=body,
        )
        self.requests.append(record)
        response = await self._respond(request, raw)
        record.status = response.status
        return response

    async def _respond(self, request: web.Request, raw: bytes) -> web.StreamResponse:
        if request.path in _HEALTH_PATHS:
            return web.Response(text="ok", content_type="text/plain")
        if request.path not in _PUBLIC_PATHS and not self._authorized(request):
            return _json_response(_errors.ApiError(401, "Unauthorized").status(), 401)
        fault = next((f for f in self._faults if f.matches(request.method, request.path)), None)
        if fault is not None:
            fault.hits += 1
            if fault.delay > 0:
                await self._sleep(fault.delay)
            if fault.status:
                return self._fault_response(fault)
        answer = self._api.handle(
            request.method, request.path, request.query, request.headers.get("Content-Type"), raw
        )
        return _json_response(answer.body, answer.status, answer.headers)

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip())

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            pass

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        error = _errors.injected(fault.status, retry_after=fault.retry_after)
        if fault.body is None:
            return _json_response(error.status(), fault.status, error.headers)
        try:
            json.loads(fault.body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain"
        return web.Response(
            status=fault.status, text=fault.body, content_type=content_type, headers=error.headers
        )

    # --- fault injection -------------------------------------------------------------------------

    def inject(
        self,
        *,
        status: int = 500,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        delay: float = 0.0,
        body: str | None = None,
    ) -> Fault:
        """Fail (or, with `status=0`, only delay) the next `times` requests matching method and path.

        `path` is a regex searched in the URL path. The answer is a Status object worded
        like the real server's for that code (429 carries `Retry-After` and
        `details.retryAfterSeconds` when `retry_after` is given); `body` replaces it
        verbatim, e.g. to imitate an HTML error page from a proxy. The first matching
        fault wins; faulted requests are recorded in `requests` with their status.
        """
        if status != 0 and not 400 <= status <= 599:
            raise ValueError(f"inject: status {status!r} must be 0 (delay only) or an HTTP error code")
        if times < 1:
            raise ValueError(f"inject: times {times!r} must be at least 1")
        if status == 0 and delay <= 0:
            raise ValueError("inject: status=0 means 'answer normally after `delay`', so delay must be > 0")
        fault = Fault(
            status=status,
            method=method,
            path=path,
            times=times,
            retry_after=retry_after,
            delay=delay,
            body=body,
        )
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    # --- observing -------------------------------------------------------------------------------

    @property
    def writes(self) -> builtins.list[RecordedRequest]:
        """Successful (2xx) POST/PUT/PATCH/DELETE requests, excluding server-side dry runs."""
        return [
            r for r in self.requests if r.method in WRITE_METHODS and 200 <= r.status < 300 and not r.dry_run
        ]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of one stored object (Events in core/v1 shape); `namespace` is ignored for Namespaces."""
        kind = stored_kind(kind)
        obj = self._store.get(kind, "" if kind == "Namespace" else namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        """Copies of the stored objects of a kind, sorted by namespace and name."""
        kind = stored_kind(kind)
        return copy.deepcopy(self._store.items(kind, None if kind == "Namespace" else namespace))

    def complete_rollouts(self) -> None:
        """Finish every rollout: start Pending pods, retire old ReplicaSets, bring status up to date."""
        self._controllers.complete()

    # --- seeding ---------------------------------------------------------------------------------

    def _check(self, kind: str, obj: Obj) -> None:
        causes = validate(kind, obj, None)
        if causes:
            raise ValueError(
                f"{kind} {obj['metadata'].get('name')!r}: " + "; ".join(c.render() for c in causes)
            )

    def _ensure_namespace(self, namespace: str) -> None:
        if self._store.get("Namespace", "", namespace) is None:
            self.add_namespace(namespace)

    def add_namespace(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a Namespace, or add labels/annotations to an existing one."""
        current = self._store.get("Namespace", "", name)
        ns: Obj = (
            copy.deepcopy(current)
            if current
            else {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
        if labels:
            ns["metadata"].setdefault("labels", {}).update(labels)
        if annotations:
            ns["metadata"].setdefault("annotations", {}).update(annotations)
        apply_defaults("Namespace", ns)
        self._check("Namespace", ns)
        if current is None:
            self._store.insert("Namespace", ns)
        else:
            self._store.save("Namespace", ns)
        return copy.deepcopy(ns)

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 2,
        image: str = "app:v1",
        revisions: Sequence[str] = (),
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        template_annotations: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        containers: Sequence[str] = ("app",),
        paused: bool = False,
        rolled_out_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Seed a settled Deployment with its rollout history.

        `revisions` are the images of older revisions, oldest first; each becomes a
        ReplicaSet scaled to 0 with revision "1", "2", ... and the current template
        (running `image`, with `template_annotations`) is the newest revision with
        `replicas` Running pods. Every container runs the revision's image and `env`.
        `rolled_out_at` (default: a day before the clock) is the newest ReplicaSet's
        creationTimestamp; older revisions are a day apart before it.
        """
        self._ensure_namespace(namespace)
        base = {"app": name, **(labels or {})}
        rolled = rolled_out_at or self._store.now() - _SEED_AGE
        current = pod_template(
            base, containers=containers, image=image, env=env, annotations=template_annotations
        )
        dep = workload(
            "Deployment",
            namespace,
            name,
            template=current,
            labels=base,
            annotations=annotations,
            replicas=replicas,
        )
        if paused:
            dep["spec"]["paused"] = True
        self._check("Deployment", dep)
        if self._store.get("Deployment", namespace, name) is not None:
            raise ValueError(f"Deployment {namespace}/{name} already exists")
        older = [pod_template(base, containers=containers, image=img, env=env) for img in revisions]
        for i, template in enumerate(older):
            if any(templates_equal(template, t) for t in [*older[i + 1 :], current]):
                raise ValueError(
                    f"add_deployment {name!r}: revision {i + 1} ({revisions[i]!r}) repeats a later template"
                )
        with self._store.pinned(rolled - _SEED_AGE * len(older)):
            self._store.insert("Deployment", dep)
        for i, template in enumerate(older):
            with self._store.pinned(rolled - _SEED_AGE * (len(older) - i)):
                self._controllers.create_replicaset(dep, revision=i + 1, template=template)
        with self._store.pinned(rolled):
            self._controllers.settle_deployment(namespace, name)
        return self.get("Deployment", namespace, name) or {}

    def _add_set(
        self,
        kind: Literal["StatefulSet", "DaemonSet"],
        namespace: str,
        name: str,
        *,
        replicas: int | None,
        image: str,
        labels: Mapping[str, str] | None,
        annotations: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        self._ensure_namespace(namespace)
        base = {"app": name, **(labels or {})}
        template = pod_template(base, containers=("app",), image=image)
        obj = workload(
            kind, namespace, name, template=template, labels=base, annotations=annotations, replicas=replicas
        )
        self._check(kind, obj)
        if self._store.get(kind, namespace, name) is not None:
            raise ValueError(f"{kind} {namespace}/{name} already exists")
        self._store.insert(kind, obj)
        self._controllers.settle(kind, namespace, name)
        return self.get(kind, namespace, name) or {}

    def add_statefulset(
        self,
        namespace: str,
        name: str,
        *,
        replicas: int = 2,
        image: str = "app:v1",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Seed a settled StatefulSet with pods `<name>-0` .. `<name>-<replicas-1>`."""
        return self._add_set(
            "StatefulSet",
            namespace,
            name,
            replicas=replicas,
            image=image,
            labels=labels,
            annotations=annotations,
        )

    def add_daemonset(
        self,
        namespace: str,
        name: str,
        *,
        image: str = "app:v1",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Seed a settled DaemonSet with one Running pod on each of the fake's three nodes."""
        return self._add_set(
            "DaemonSet", namespace, name, replicas=None, image=image, labels=labels, annotations=annotations
        )

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        phase: str = "Running",
        owner: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Seed one pod (container `app`, image `app:v1`) in `phase`.

        `owner` is either an object (as returned by the add_* helpers or `get`), made
        the pod's controller, or a ready-made ownerReference dict. Controllers adopt
        nothing: an owned pod beyond its ReplicaSet's replicas is removed at the next
        write, as the real ReplicaSet controller would.
        """
        self._ensure_namespace(namespace)
        if self._store.get("Pod", namespace, name) is not None:
            raise ValueError(f"Pod {namespace}/{name} already exists")
        template = pod_template(labels or {}, containers=("app",), image="app:v1")
        pod = new_pod(
            namespace=namespace,
            name=name,
            template=template,
            owner=None,
            node="fake-node-1",
            phase=phase,
            at=self._store.timestamp(),
            pod_ip=f"10.244.0.{len(self._store.items('Pod')) % 250 + 2}",
        )
        if owner is not None:
            ref = owner_reference(owner) if "metadata" in owner else dict(owner)
            pod["metadata"]["ownerReferences"] = [ref]
        self._check("Pod", pod)
        self._store.insert("Pod", pod)
        return self.get("Pod", namespace, name) or {}


def _json_response(body: Any, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    # body= rather than text=, so the Content-Type is exactly application/json, as the API server sends it.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=dict(headers or {}),
    )
