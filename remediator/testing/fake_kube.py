"""A stateful fake Kubernetes API server on 127.0.0.1, for tests and `remediator test`.

Remediation actions are exercised through the real kubernetes_asyncio client against
this server, because the bugs that matter live on the wire: patch content types,
resourceVersion conflicts, Status error bodies, rate limits, and time. The server keeps
Deployments, ReplicaSets, StatefulSets, DaemonSets, Pods (with logs), Jobs,
PodDisruptionBudgets, Events, Namespaces and Leases; serves lists, watches, the scale,
status, eviction and log subresources; records every request; and fails or slows
requests on demand.

Time is realistic by default: a write is answered at once and the fake controllers and
kubelet act later on the injected clock (see `Timing`), so a read right after a rollout
restart still shows the previous rollout's status, pods start seconds later, and a deleted
pod stays listed through its grace period. `rollout="instant"` settles every write before
answering, for tests that say why they do not care about time.

    async with FakeKubeServer(clock=clock) as kube:
        kube.add_deployment("shop", "web", revisions=["web:v1"], image="web:v2")
        cfg_path = kube.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # drive product code with a client built from cfg_path; advance `clock`
        assert [w.path for w in kube.writes] == ["/apis/apps/v1/namespaces/shop/deployments/web"]

It deliberately does not import kubernetes_asyncio: it is the server side.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import json
import pathlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from aiohttp import web

from remediator.testing import _errors
from remediator.testing._api import KubeApi
from remediator.testing._controllers import Controllers
from remediator.testing._faults import Fault, Faults, fault_response, json_response
from remediator.testing._kubelet import OUTCOMES, Outcome, PodScript
from remediator.testing._resources import stored_kind
from remediator.testing._seeding import Seeding
from remediator.testing._store import Store
from remediator.testing._timing import Timing
from remediator.testing._watch import WatchRequest, bookmark, error_event, events_for, initial_events

__all__ = ["TOKEN", "WRITE_METHODS", "FakeKubeServer", "Fault", "RecordedRequest", "RolloutMode"]

RolloutMode = Literal["realistic", "instant", "manual"]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN = "fake-token"
_HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_PUBLIC_PATHS = _HEALTH_PATHS | {"/version"}
"""Paths a real cluster serves to anonymous clients (health checks run before auth is set up)."""
_WATCH_POLL_S = 0.02
"""Real seconds between a watch's looks at the clock, so time-driven changes reach it."""
_BOOKMARK_EVERY_S = 60.0
"""Simulated seconds between BOOKMARK events on watches that allow them (the real server: ~1 min)."""


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


class _HasNow(Protocol):
    def now(self) -> datetime: ...


class FakeKubeServer(Seeding):
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | _HasNow | None = None,
        rollout: RolloutMode = "realistic",
        timing: Timing | None = None,
    ) -> None:
        """`clock` is the time the fake cluster lives in: a `Clock` (e.g. a FakeClock) or a
        `now` function. Controllers and the kubelet act on it, and stamp times with it.

        `rollout="realistic"` uses `timing` (default `Timing()`): controllers act after a
        delay, pods take seconds to start and their grace period to stop. `"instant"`
        settles every write before answering. `"manual"` is realistic, except that new
        pods stay Pending until `complete_rollouts()` (or `set_pod_outcome`), to test
        rollouts that never finish.
        """
        self.rollout: RolloutMode = rollout
        now = clock.now if clock is not None and hasattr(clock, "now") else clock
        self._store = Store(now or (lambda: datetime.now(UTC)))
        if timing is None:
            timing = Timing.instant() if rollout == "instant" else Timing()
        self.timing = timing.manual() if rollout == "manual" else timing
        self._controllers = Controllers(self._store, self.timing)
        self._api = KubeApi(self._store, self._controllers)
        self.requests: list[RecordedRequest] = []
        self._faults = Faults()
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
        response = await self._respond(request, raw, record)
        record.status = response.status
        return response

    async def _respond(self, request: web.Request, raw: bytes, record: RecordedRequest) -> web.StreamResponse:
        if request.path in _HEALTH_PATHS:
            return web.Response(text="ok", content_type="text/plain")
        if request.path not in _PUBLIC_PATHS and not self._authorized(request):
            return json_response(_errors.ApiError(401, "Unauthorized").status(), 401)
        fault = self._faults.hit(request.method, request.path)
        if fault is not None:
            if fault.delay > 0:
                await self._sleep(fault.delay)
            if fault.hold is not None:
                await self._held(fault.hold)
            if fault.status and not fault.after_write:
                return fault_response(fault)
        self._controllers.catch_up()
        answer = self._api.handle(
            request.method, request.path, request.query, request.headers.get("Content-Type"), raw
        )
        if fault is not None and fault.after_write:
            return fault_response(fault)
        if isinstance(answer, WatchRequest):
            record.status = 200
            return await self._stream(request, answer)
        if answer.text is not None:
            return web.Response(status=answer.status, text=answer.text, content_type="text/plain")
        return json_response(answer.body, answer.status, answer.headers)

    async def _stream(self, request: web.Request, watch: WatchRequest) -> web.StreamResponse:
        """Stream a watch as JSON lines until its timeout, the client leaving, or the server closing.

        The timeout counts in the injected clock's seconds or in real ones, whichever runs out
        first, so a watch ends both in simulated-time tests and when nobody moves the clock."""
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        changes = self._api.changes
        waiter = changes.subscribe()
        loop = asyncio.get_running_loop()
        started_real, started = loop.time(), self._store.now()
        last_bookmark = started

        async def send(events: Any) -> None:
            for event in events:
                await response.write(json.dumps(event).encode() + b"\n")

        try:
            if watch.resource_version is None:
                last = self._store.revision
                await send(initial_events(watch, self._store.items(watch.kind, watch.namespace)))
            else:
                last = watch.resource_version
            while not self._closing.is_set():
                self._controllers.catch_up()
                try:
                    new = changes.since(last)
                except _errors.ApiError as exc:
                    await send([error_event(exc)])
                    break
                if new:
                    last = new[-1].rv
                    await send(events_for(watch, new))
                now = self._store.now()
                if watch.bookmarks and (now - last_bookmark).total_seconds() >= _BOOKMARK_EVERY_S:
                    last_bookmark = now
                    await send([bookmark(watch, max(last, self._store.revision))])
                if watch.timeout_s is not None and (
                    (now - started).total_seconds() >= watch.timeout_s
                    or loop.time() - started_real >= watch.timeout_s
                ):
                    break
                waiter.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), _WATCH_POLL_S)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            changes.unsubscribe(waiter)
        return response

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

    async def _held(self, hold: asyncio.Event) -> None:
        """Until the test releases the request, or the server closes."""
        waits = [asyncio.ensure_future(hold.wait()), asyncio.ensure_future(self._closing.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

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
        after_write: bool = False,
        hold: asyncio.Event | None = None,
    ) -> Fault:
        """Fail (or, with `status=0`, only delay) the next `times` requests matching method and path.

        `path` is a regex searched in the URL path. The answer is a Status object worded
        like the real server's for that code (429 carries `Retry-After` and
        `details.retryAfterSeconds` when `retry_after` is given); `body` replaces it
        verbatim, e.g. to imitate an HTML error page from a proxy. The first matching
        fault wins; faulted requests are recorded in `requests` with their status.
        `after_write=True` handles the request first (a write lands) and then fails the answer, as a
        read timeout or a proxy's 504 after the server committed does.
        `hold` (with `status=0`) keeps each matching request waiting until the event is set, then
        handles it normally: the client may have timed out and retried meanwhile, and the held write
        still lands, as a slow API server's does.
        """
        return self._faults.add(
            status=status,
            method=method,
            path=path,
            times=times,
            retry_after=retry_after,
            delay=delay,
            body=body,
            after_write=after_write,
            hold=hold,
        )

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
        """A copy of one stored object (Events in core/v1 shape); `namespace` is ignored for Namespaces.

        Like every request, it first lets the cluster catch up with the clock."""
        self._controllers.catch_up()
        kind = stored_kind(kind)
        obj = self._store.get(kind, "" if kind == "Namespace" else namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        """Copies of the stored objects of a kind, sorted by namespace and name (after catching up)."""
        self._controllers.catch_up()
        kind = stored_kind(kind)
        return copy.deepcopy(self._store.items(kind, None if kind == "Namespace" else namespace))

    def complete_rollouts(self) -> None:
        """Finish every rollout now: start Pending pods (unless scripted to stay Pending) and run all
        pending controller work at the clock's time, as if the cluster had all the time it needed."""
        self._controllers.complete()

    # --- the simulated cluster -------------------------------------------------------------------

    def set_pod_outcome(
        self,
        outcome: Outcome,
        *,
        namespace: str | None = None,
        pod: str | None = None,
        job: str | None = None,
        image: str | None = None,
        selector: str | None = None,
        after_s: float | None = None,
        exit_code: int | None = None,
        log: str | None = None,
        existing: bool = True,
    ) -> builtins.list[str]:
        """Script what matching pods do from now on; the latest matching script wins.

        Outcomes: "ready" (the default for restartPolicy Always), "unready" (runs, never
        Ready: a stalled rollout), "crash" (CrashLoopBackOff, restart count growing with
        the kubelet's back-off), "succeed"/"fail" (exit 0 / `exit_code`, default 1, after
        `after_s`, default `Timing.job_pod_run_s`; "succeed" is the default for Job pods),
        "pending" (never starts). Pods match on every criterion given: `namespace`, `pod`
        name, `job` name, container `image`, label `selector`. `log` is written to every
        container when the pod starts (or exits, or crashes). Matching pods that already
        run switch now (unless `existing=False`: only pods started from now on); the names of
        those are returned.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"set_pod_outcome: outcome {outcome!r} must be one of {', '.join(OUTCOMES)}")
        script = PodScript(
            outcome=outcome,
            namespace=namespace,
            pod=pod,
            job=job,
            image=image,
            selector=selector,
            after_s=after_s,
            exit_code=exit_code,
            log=log,
        )
        self._controllers.catch_up()
        return self._controllers.kubelet.add_script(script, existing=existing)

    def finish_pod(
        self,
        namespace: str,
        name: str,
        *,
        succeeded: bool = True,
        exit_code: int | None = None,
        log: str | None = None,
    ) -> None:
        """Make the pod's containers exit now (a Job pod finishing, an app dying)."""
        self._controllers.catch_up()
        self._controllers.kubelet.finish(namespace, name, ok=succeeded, exit_code=exit_code, log=log)

    def write_log(self, namespace: str, pod: str, text: str, *, container: str | None = None) -> None:
        """Append `text` (one line per line) to the log of `container` (default: every container),
        stamped with the clock's time, as the application would have written it."""
        self._controllers.catch_up()
        obj = self._store.get("Pod", namespace, pod)
        if obj is None:
            raise ValueError(f"write_log: Pod {namespace}/{pod} does not exist")
        names = [c["name"] for c in obj["spec"].get("containers") or []]
        if container is not None and container not in names:
            raise ValueError(
                f"write_log: Pod {namespace}/{pod} has no container {container!r}; it has {names}"
            )
        for name in [container] if container else names:
            self._controllers.logs.write(namespace, pod, name, text, at=self._store.now())

    def compact(self) -> None:
        """Forget the change history, as etcd compaction does: watches from older versions get 410."""
        self._api.changes.compact()
