"""The override API, described once: each route's method, path, scope, request and response models,
handler and the refusals it may answer, in one table (`ROUTES`).

The server registers the table (`add_control_routes`), the OpenAPI document is generated from it
(openapi.py), and the handlers (control.py, board.py) receive what it declares, parsed: the path, query and
body models, the caller and the operator. A handler returns its response model (or, for another
content type, a ready response); the wrapper here turns refusals into the documented statuses.
A new endpoint is a model in models.py and a row here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic_core
from aiohttp import web
from pydantic import BaseModel, ValidationError

from remediator.api import board, control, models
from remediator.api.apiauth import Caller, requires
from remediator.api.body import read_body
from remediator.api.errors import error_response, one_line
from remediator.api.models import PREFIX, Scope
from remediator.api.refusals import refusal_status
from remediator.api.state import STATE, ApiState
from remediator.logs import get_logger
from remediator.override import BadRequest, OperationRefused, Operator
from remediator.store import JournalUnavailable

__all__ = ["PREFIX", "PUBLIC_ROUTES", "ROUTES", "Call", "Route", "add_control_routes"]

log = get_logger("remediator.api")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One request to a route, parsed as the route declares it."""

    request: web.Request
    caller: Caller
    op: Operator
    path: BaseModel
    query: BaseModel | None
    body: BaseModel | None

    @property
    def state(self) -> ApiState:
        return self.request.app[STATE]

    def path_as(self, model: type[M]) -> M:
        assert isinstance(self.path, model), f"the route's path model is not {model.__name__}"
        return self.path

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model), f"the route's query model is not {model.__name__}"
        return self.query

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model), f"the route's body model is not {model.__name__}"
        return self.body


Handler = Callable[[Call], Awaitable[BaseModel | web.StreamResponse]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    method: str
    path: str
    """Under PREFIX; `{name}` segments are the path model's fields."""
    scope: Scope
    handler: Handler
    response: type[BaseModel]
    summary: str
    operation_id: str
    description: str = ""
    path_model: type[BaseModel] = models.NoPath
    query: type[BaseModel] | None = models.NoQuery
    """None: the route reads no query string (unknown parameters are not refused, as for every POST)."""
    body: type[BaseModel] | None = None
    body_required: bool = True
    refusals: tuple[int, ...] = ()
    """Statuses beyond 400, 401 and 503 (404, 409, 422; 403 comes with the admin scope)."""
    may_need_admin: bool = False
    """A read route that some requests turn into an admin one (a trigger with dry_run false)."""
    markdown: bool = False
    """Also answers text/markdown (the postmortem draft)."""


ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/status",
        scope="read",
        handler=control.status,
        response=models.Status,
        operation_id="getStatus",
        summary="mode (running, paused, dry-run), pauses, dry-run rules, breakers, rules, journal, "
        "Kubernetes",
    ),
    Route(
        method="POST",
        path="/pause",
        scope="admin",
        handler=control.pause,
        response=models.PauseResult,
        operation_id="pause",
        summary="pause every rule, or one, with a reason and an optional expiry",
        description="Every decision is then recorded as `paused`; nothing acts. `remediator_paused` is 1 "
        "while a global pause is in force.",
        query=None,
        body=models.PauseRequest,
        refusals=(404,),
    ),
    Route(
        method="POST",
        path="/resume",
        scope="admin",
        handler=control.resume,
        response=models.ResumeResult,
        operation_id="resume",
        summary="lift the global pause, or one rule's",
        query=None,
        body=models.ResumeRequest,
        refusals=(404,),
    ),
    Route(
        method="POST",
        path="/dry-run",
        scope="admin",
        handler=control.dry_run,
        response=models.DryRunResult,
        operation_id="setDryRun",
        summary="turn dry-run on or off, globally or for one rule",
        query=None,
        body=models.DryRunRequest,
        refusals=(404,),
    ),
    Route(
        method="GET",
        path="/rules",
        scope="read",
        handler=control.list_rules,
        response=models.RuleList,
        operation_id="listRules",
        summary="the rules loaded",
    ),
    Route(
        method="GET",
        path="/rules/{name}",
        scope="read",
        handler=control.show_rule,
        response=models.RuleDetail,
        operation_id="getRule",
        summary="one rule as loaded: matchers as text, when, target templates, actions, guards, "
        "source file:line",
        path_model=models.RulePath,
        refusals=(404,),
    ),
    Route(
        method="POST",
        path="/rules/{name}/trigger",
        scope="read",
        may_need_admin=True,
        handler=control.trigger,
        response=models.Recorded,
        operation_id="triggerRule",
        summary="run a rule by hand for an alert or a target (dry-run unless dry_run is false)",
        description="Goes through the real decider with every guard in force; when it acts, the runner "
        "executes it. With `target`, a made-up alert whose labels render to that target is used, and "
        "the rule's `when` is not evaluated (there is no alert value); 400 says why when the rule's "
        "templates cannot produce the target. `dry_run: false` needs an admin token.",
        path_model=models.RulePath,
        query=None,
        body=models.TriggerRequest,
        refusals=(404,),
    ),
    Route(
        method="POST",
        path="/reload",
        scope="admin",
        handler=control.reload,
        response=models.ReloadResult,
        operation_id="reload",
        summary="reload the rule files atomically",
        description="A rule file that is invalid keeps the previous rules active: 422, with every "
        "`path:line: msg` in the detail.",
        query=None,
        body=models.ReloadRequest,
        body_required=False,
        refusals=(422,),
    ),
    Route(
        method="GET",
        path="/executions",
        scope="read",
        handler=control.list_executions,
        response=models.ExecutionPage,
        operation_id="listExecutions",
        summary="the audit trail of executions, newest first",
        query=models.ExecutionsQuery,
    ),
    Route(
        method="GET",
        path="/executions/{id}",
        scope="read",
        handler=control.show_execution,
        response=models.Execution,
        operation_id="getExecution",
        summary="one execution: alert, rule, decision and reason, diff, attempts, outcome, who",
        path_model=models.ExecutionPath,
        refusals=(404,),
    ),
    Route(
        method="GET",
        path="/approvals",
        scope="read",
        handler=control.list_approvals,
        response=models.ApprovalList,
        operation_id="listApprovals",
        summary="actions waiting for (or decided by) a human",
        query=models.ApprovalsQuery,
    ),
    Route(
        method="POST",
        path="/approvals/{id}/approve",
        scope="admin",
        handler=control.approve,
        response=models.ApproveResult,
        operation_id="approve",
        summary="approve a pending action: decided again with every other guard in force, then executed",
        path_model=models.ApprovalPath,
        query=None,
        body=models.OptionalReasonRequest,
        body_required=False,
        refusals=(404, 409),
    ),
    Route(
        method="POST",
        path="/approvals/{id}/reject",
        scope="admin",
        handler=control.reject,
        response=models.RejectResult,
        operation_id="reject",
        summary="reject a pending action (reason required)",
        path_model=models.ApprovalPath,
        query=None,
        body=models.ReasonRequest,
        refusals=(404, 409),
    ),
    Route(
        method="GET",
        path="/breakers",
        scope="read",
        handler=control.list_breakers,
        response=models.BreakerList,
        operation_id="listBreakers",
        summary="circuit breakers per rule and target",
    ),
    Route(
        method="POST",
        path="/breakers/{key}/reset",
        scope="admin",
        handler=control.reset_breaker,
        response=models.ResetResult,
        operation_id="resetBreaker",
        summary="close a circuit breaker",
        path_model=models.BreakerPath,
        query=None,
        body=models.ReasonRequest,
        refusals=(404,),
    ),
    Route(
        method="GET",
        path="/incident-board",
        scope="read",
        handler=board.list_board,
        response=models.BoardList,
        operation_id="listBoard",
        summary="incidents remediator manages: severity, state, escalation ladder (default: not resolved)",
        query=models.BoardQuery,
    ),
    Route(
        method="GET",
        path="/incident-board/{id}",
        scope="read",
        handler=board.show_board,
        response=models.BoardDetail,
        operation_id="getBoardIncident",
        summary="one incident with its timeline (opened, deferred, acted, escalated, paged, updates...)",
        path_model=models.BoardPath,
        refusals=(404,),
    ),
    Route(
        method="POST",
        path="/incident-board/{id}/acknowledge",
        scope="admin",
        handler=board.acknowledge_incident,
        response=models.BoardResult,
        operation_id="acknowledgeIncident",
        summary="a human has it: the escalation ladder stops",
        path_model=models.BoardPath,
        query=None,
        body=models.ReasonRequest,
        refusals=(404,),
    ),
    Route(
        method="POST",
        path="/incident-board/{id}/resolve",
        scope="admin",
        handler=board.resolve_incident,
        response=models.BoardResult,
        operation_id="resolveIncident",
        summary="declare it over: ladder, updates and watch stop, its pages are resolved",
        path_model=models.BoardPath,
        query=None,
        body=models.ReasonRequest,
        refusals=(404,),
    ),
    Route(
        method="GET",
        path="/deferred",
        scope="read",
        handler=board.list_deferred,
        response=models.DeferredList,
        operation_id="listDeferred",
        summary="decisions waiting for a slot, in the order they will be decided again",
        query=models.DeferredQuery,
    ),
    Route(
        method="GET",
        path="/timers",
        scope="read",
        handler=board.list_timers,
        response=models.TimerList,
        operation_id="listTimers",
        summary="what the scheduler will do next (escalation steps, updates, watches, approvals, retries)",
        query=models.TimersQuery,
    ),
    Route(
        method="GET",
        path="/incidents",
        scope="read",
        handler=control.list_incidents,
        response=models.IncidentPage,
        operation_id="listIncidents",
        summary="alert episodes (fingerprint, startsAt), newest first",
        query=models.IncidentsQuery,
    ),
    Route(
        method="GET",
        path="/incidents/{id}/timeline",
        scope="read",
        handler=control.incident_timeline,
        response=models.Timeline,
        operation_id="getIncidentTimeline",
        summary="an incident's alerts, decisions, executions and escalations in time order",
        description="The timeline (JSON), or a postmortem draft (`format=markdown`).",
        path_model=models.IncidentPath,
        query=models.TimelineQuery,
        refusals=(404,),
        markdown=True,
    ),
    Route(
        method="GET",
        path="/audit",
        scope="read",
        handler=control.list_audit,
        response=models.AuditPage,
        operation_id="listAudit",
        summary="every change made through the API (and SIGHUP reloads), with who and why",
        query=models.AuditQuery,
    ),
)

PUBLIC_ROUTES = (("GET", "/openapi.json"),)
"""Unauthenticated: the document says how to authenticate."""


# -- parsing what a route declares --------------------------------------------------------------------


def _first_problem(e: ValidationError) -> str:
    """The message of a query or path value's first problem, as the API words it."""
    err = e.errors(include_url=False)[0]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}"


def parse_query(model: type[M], query: Mapping[str, str], *, context: dict[str, Any]) -> M:
    allowed = [f.alias or name for name, f in model.model_fields.items()]
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise BadRequest(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; this endpoint takes "
            + (", ".join(allowed) or "none")
        )
    try:
        return model.model_validate({k: query[k] for k in allowed if k in query}, context=context)
    except ValidationError as e:
        raise BadRequest(_first_problem(e)) from None


def _parse_path(model: type[M], match_info: Mapping[str, str]) -> M:
    try:
        return model.model_validate(dict(match_info))
    except ValidationError as e:
        raise BadRequest(_first_problem(e)) from None


async def _parse_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON object body; an empty body is `{}` (so the error names what is missing)."""
    raw = await read_body(request)
    if raw.strip():
        try:
            # pydantic's parser, not json.loads: it bounds nesting (a body nested thousands deep is a
            # 400, not a RecursionError) and refuses invalid UTF-8.
            data = pydantic_core.from_json(raw)
        except ValueError as e:
            raise BadRequest(f"request body is not valid JSON: {one_line(str(e))}") from None
        if not isinstance(data, dict):
            raise BadRequest(f"request body must be a JSON object, not {type(data).__name__}")
    else:
        raw = b"{}"
    try:
        # JSON mode: strict types, but RFC 3339 strings are datetimes.
        return model.model_validate_json(raw)
    except ValidationError as e:
        problems = [_problem(err) for err in e.errors(include_url=False)]
        raise BadRequest("invalid request body: " + "; ".join(problems), detail=problems) from None


def _problem(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "body"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    return f"{loc}: {err['msg']}"


def answer(model: BaseModel, status: int = 200) -> web.Response:
    """A response model as JSON: the keys it was given, nothing added."""
    return web.json_response(model.model_dump(mode="json", by_alias=True, exclude_unset=True), status=status)


# -- registering ---------------------------------------------------------------------------------------


def _wired(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @requires(route.scope)
    async def run(request: web.Request, caller: Caller) -> web.StreamResponse:
        state = request.app[STATE]
        op = state.operator
        if op is None:
            return error_response(503, "the override API is not wired in this process")
        try:
            query = (
                parse_query(route.query, request.query, context={"now": state.clock.now()})
                if route.query is not None
                else None
            )
            path = _parse_path(route.path_model, request.match_info)
            body = await _parse_body(request, route.body) if route.body is not None else None
            result = await route.handler(
                Call(request=request, caller=caller, op=op, path=path, query=query, body=body)
            )
        except OperationRefused as e:
            return error_response(refusal_status(e), str(e), e.detail)
        except JournalUnavailable as e:
            log.error("override not journaled", path=request.path, caller=caller.name, error=str(e))
            return error_response(
                503,
                "journal unavailable: the change may have taken effect unrecorded; check GET status",
                str(e),
            )
        if isinstance(result, web.StreamResponse):
            return result
        assert isinstance(result, route.response), f"{route.operation_id} answers {route.response.__name__}"
        return answer(result)

    run.__name__ = route.handler.__name__
    return run


def add_control_routes(app: web.Application) -> None:
    """Register the override API; `app[STATE]` must be set (handlers read it per request). The
    document of PUBLIC_ROUTES is registered by the server (openapi.py reads this table)."""
    for route in ROUTES:
        app.router.add_route(route.method, PREFIX + route.path, _wired(route))
