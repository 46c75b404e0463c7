"""The OpenAPI 3 document of the override API, served at GET /api/v1/openapi.json (no auth).

Written by hand as a dict, next to the handlers it describes (api/control.py): a test checks that
every route registered under /api/v1 is documented here with the same scope, and the reverse,
and fuzzes the API from this document (schemathesis), so a drift shows in CI. Request schemas
mirror the handlers' strict validation (unknown keys are refused); response schemas describe
what the handlers send.
"""

from __future__ import annotations

import copy
from typing import Any

from remediator import __version__

MAX_ID = 2**63 - 1

_NULLABLE_STR = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 64}
_REASON = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}
_OPTIONAL_REASON = {"type": "string", "maxLength": 2000}
_RULE = {"type": "string", "minLength": 1, "maxLength": 253, "description": "a loaded rule's name"}
_EXECUTION_STATUSES = ["pending", "running", "succeeded", "failed", "interrupted", "planned", "skipped"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None, *, closed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {"error": {"type": "string"}, "detail": {"nullable": True, "description": "list or object, or null"}},
        ["error", "detail"],
    ),
    "Pause": {
        **_obj(
            {"by": {"type": "string"}, "reason": {"type": "string"}, "until": _NULLABLE_TIME},
            ["by", "reason"],
        ),
        "nullable": True,
    },
    "PauseRequest": _obj(
        {
            "reason": _REASON,
            "rule": {**_RULE, "nullable": True, "description": "pause this rule only"},
            "for": {
                "type": "string",
                "nullable": True,
                "maxLength": 64,
                "description": "expiry as a duration (30m, 2h); none: until resumed",
            },
        },
        ["reason"],
        closed=True,
    ),
    "ResumeRequest": _obj({"reason": _REASON, "rule": {**_RULE, "nullable": True}}, ["reason"], closed=True),
    "DryRunRequest": _obj(
        {"enabled": {"type": "boolean"}, "reason": _REASON, "rule": {**_RULE, "nullable": True}},
        ["enabled", "reason"],
        closed=True,
    ),
    "ReloadRequest": _obj({"reason": _OPTIONAL_REASON}, closed=True),
    "ReasonRequest": _obj({"reason": _REASON}, ["reason"], closed=True),
    "OptionalReasonRequest": _obj({"reason": _OPTIONAL_REASON}, closed=True),
    "AlertInput": _obj(
        {
            "labels": _LABELS,
            "annotations": _LABELS,
            "fingerprint": {"type": "string", "minLength": 1, "maxLength": 128, "nullable": True},
            "startsAt": _NULLABLE_TIME,
        },
        ["labels"],
        closed=True,
    ),
    "TargetInput": _obj(
        {
            "namespace": {"type": "string", "minLength": 1, "maxLength": 253},
            "name": {"type": "string", "minLength": 1, "maxLength": 253},
            "kind": {"type": "string", "enum": ["Deployment", "StatefulSet", "DaemonSet"], "nullable": True},
            "labels": _LABELS,
            "annotations": _LABELS,
        },
        ["namespace", "name"],
        closed=True,
    ),
    "TriggerRequest": {
        **_obj(
            {
                "alert": _ref("AlertInput"),
                "target": _ref("TargetInput"),
                "dry_run": {
                    "type": "boolean",
                    "default": True,
                    "description": "false acts for real and needs an admin token",
                },
                "reason": _OPTIONAL_REASON,
            },
            closed=True,
        ),
        "description": "exactly one of `alert` or `target`",
    },
    "Decision": _obj(
        {
            "rule": {"type": "string"},
            "target": _NULLABLE_STR,
            "actions": {
                "type": "array",
                "items": _obj({"kind": {"type": "string"}, "params": {"type": "object"}}),
            },
            "outcome": {"type": "string"},
            "reason": {"type": "string"},
            "dry_run": {"type": "boolean"},
            "decided_at": _TIME,
            "alert": {"type": "object"},
        },
        ["rule", "target", "outcome", "reason", "dry_run"],
    ),
    "Recorded": _obj(
        {
            "decision": _ref("Decision"),
            "alert_id": {"type": "integer", "nullable": True},
            "decision_id": {"type": "integer"},
            "execution_id": {"type": "integer", "nullable": True},
        },
        ["decision", "decision_id", "execution_id"],
    ),
    "Breaker": _obj(
        {
            "key": {"type": "string", "description": "rule:namespace/Kind/name (URL-encode it in paths)"},
            "rule": {"type": "string"},
            "target": {"type": "string"},
            "state": {"type": "string", "enum": ["closed", "half_open", "open"]},
            "failures": {"type": "integer"},
            "opened_at": _NULLABLE_TIME,
            "half_open_at": _NULLABLE_TIME,
        },
        ["key", "rule", "target", "state", "failures"],
    ),
    "Status": _obj(
        {
            "mode": {"type": "string", "enum": ["running", "paused", "dry-run"]},
            "version": {"type": "string"},
            "caller": _obj({"name": {"type": "string"}, "scope": {"type": "string"}}),
            "paused": _ref("Pause"),
            "paused_rules": {"type": "object", "additionalProperties": _ref("Pause")},
            "dry_run": _obj(
                {
                    "global": {"type": "boolean"},
                    "reason": _NULLABLE_STR,
                    "rules": {"type": "array", "items": {"type": "string"}},
                }
            ),
            "rules": _obj(
                {
                    "loaded": {"type": "integer"},
                    "enabled": {"type": "integer"},
                    "files": {"type": "array", "items": {"type": "string"}},
                    "last_reload": {"type": "object", "nullable": True},
                }
            ),
            "breakers": _obj(
                {
                    "open": {"type": "integer"},
                    "half_open": {"type": "integer"},
                    "not_closed": {"type": "array", "items": _ref("Breaker")},
                }
            ),
            "journal": _obj(
                {
                    "healthy": {"type": "boolean"},
                    "error": _NULLABLE_STR,
                    "backlog": {"type": "integer"},
                    "max_backlog": {"type": "integer"},
                    "write_errors": {"type": "number", "nullable": True},
                }
            ),
            "kubernetes": _obj({"connected": {"type": "boolean"}, "dry_run_reason": _NULLABLE_STR}),
        },
        ["mode", "paused", "paused_rules", "dry_run", "rules", "breakers", "journal", "kubernetes"],
    ),
    "RuleSummary": _obj(
        {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "severity": {"type": "string"},
            "enabled": {"type": "boolean"},
            "source": {"type": "string", "description": "file:line"},
            "actions": {"type": "array", "items": {"type": "string"}},
            "paused": _ref("Pause"),
            "dry_run": {"type": "boolean"},
        },
        ["name", "source", "actions", "enabled"],
    ),
    "RuleDetail": _obj(
        {
            "name": {"type": "string"},
            "source": {"type": "string", "description": "file:line"},
            "match": {"type": "array", "items": {"type": "string"}},
            "when": _NULLABLE_STR,
            "target": _obj(
                {"kind": {"type": "string"}, "namespace": {"type": "string"}, "name": {"type": "string"}}
            ),
            "actions": {"type": "array", "items": {"type": "object"}},
            "guards": {"type": "object"},
            "paused": _ref("Pause"),
            "in_dry_run": {"type": "boolean"},
        },
        ["name", "source", "match", "when", "target", "actions", "guards"],
    ),
    "Execution": _obj(
        {
            "id": {"type": "integer"},
            "decision_id": {"type": "integer"},
            "rule": {"type": "string"},
            "target": {"type": "string"},
            "actions": {"type": "array", "items": {"type": "string"}},
            "dry_run": {"type": "boolean"},
            "status": {"type": "string", "enum": _EXECUTION_STATUSES},
            "attempts": {"type": "integer"},
            "error": _NULLABLE_STR,
            "changes": {
                "type": "array",
                "items": _obj({"path": {"type": "string"}, "before": {}, "after": {}}),
                "description": "the diff: each field changed (or, in dry-run, that would change)",
            },
            "summary": {"type": "string"},
            "created_at": _TIME,
            "started_at": _NULLABLE_TIME,
            "finished_at": _NULLABLE_TIME,
            "decision": _obj(
                {"outcome": {"type": "string"}, "reason": {"type": "string"}, "decided_at": _TIME}
            ),
            "who": {
                "type": "string",
                "description": "token name of the human who started it, else remediator",
            },
            "via": {"type": "string", "enum": ["alert", "trigger", "approval"]},
            "alert": {"type": "object", "nullable": True},
            "audit": {"type": "array", "items": _ref("AuditEntry")},
        },
        ["id", "rule", "target", "status", "dry_run", "changes", "decision", "who"],
    ),
    "Approval": _obj(
        {
            "id": {"type": "integer"},
            "decision_id": {"type": "integer"},
            "alert_id": {"type": "integer", "nullable": True},
            "rule": {"type": "string"},
            "target": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "approved", "rejected", "expired"]},
            "created_at": _TIME,
            "expires_at": _TIME,
            "decided_by": _NULLABLE_STR,
            "decided_at": _NULLABLE_TIME,
            "note": _NULLABLE_STR,
            "reason": {"type": "string"},
            "actions": {"type": "array", "items": {"type": "string"}},
        },
        ["id", "rule", "target", "status"],
    ),
    "AuditEntry": _obj(
        {
            "id": {"type": "integer"},
            "at": _TIME,
            "actor": {"type": "string", "description": "the token's name"},
            "action": {"type": "string"},
            "detail": {"type": "object", "description": "what changed, and the reason"},
        },
        ["id", "at", "actor", "action", "detail"],
    ),
    "Incident": _obj(
        {
            "id": {"type": "string", "description": "<fingerprint>-<startsAt unix seconds>"},
            "fingerprint": {"type": "string"},
            "alertname": {"type": "string"},
            "severity": {"type": "string"},
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "starts_at": _TIME,
            "ends_at": _NULLABLE_TIME,
            "alerts": {"type": "integer"},
            "labels": _LABELS,
        },
        ["id", "fingerprint", "status", "starts_at", "alerts"],
    ),
    "Timeline": {
        "allOf": [
            _ref("Incident"),
            _obj(
                {
                    "title": {"type": "string"},
                    "duration_s": {"type": "number"},
                    "ongoing": {"type": "boolean"},
                    "actions_taken": {"type": "array", "items": {"type": "string"}},
                    "events": {
                        "type": "array",
                        "items": _obj(
                            {
                                "type": {
                                    "type": "string",
                                    "enum": ["alert", "decision", "execution", "escalation"],
                                },
                                "at": _TIME,
                            },
                            ["type", "at"],
                        ),
                    },
                },
                ["events"],
            ),
        ]
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


RESPONSES: dict[str, Any] = {
    "BadRequest": _error(
        "the request is wrong: not JSON, not an object, a missing or invalid field, an unknown key or "
        "query parameter (detail lists each problem)"
    ),
    "Unauthorized": _error("no bearer token, or one not in auth.api_tokens"),
    "Forbidden": _error("a read token on an admin operation"),
    "NotFound": _error("no such rule, execution, approval, breaker or incident"),
    "Conflict": _error("the state forbids it (an approval already decided or expired; its rule is gone)"),
    "Unavailable": _error("the override API is not wired in this process"),
}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page(key: str, item: str) -> dict[str, Any]:
    return _obj(
        {
            key: {"type": "array", "items": _ref(item)},
            "next": {
                "type": "string",
                "nullable": True,
                "description": "cursor of the next page; null: last",
            },
        },
        [key, "next"],
    )


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size")
_CURSOR = _query(
    "cursor", {"type": "string", "pattern": "^[0-9]{1,19}$"}, "`next` from the previous page (opaque)"
)
_SINCE = _query("since", {"type": "string"}, "RFC 3339 time, or a duration meaning that long ago (`2h`)")
_RULE_PATH = _path("name", _RULE, "rule name")
_ID_PATH = _path("id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "numeric id")


def _op(
    op_id: str,
    summary: str,
    scope: str,
    responses: dict[str, Any],
    *,
    description: str = "",
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
    body_required: bool = True,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "description": description or summary,
        "security": [{"bearer": []}],
        "x-scope": scope,
        "responses": {
            **responses,
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }
    if scope == "admin" or op_id == "triggerRule":
        out["responses"]["403"] = {"$ref": "#/components/responses/Forbidden"}
    if params:
        out["parameters"] = params
    if body:
        out["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return out


_404 = {"404": {"$ref": "#/components/responses/NotFound"}}
_409 = {"409": {"$ref": "#/components/responses/Conflict"}}

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "this document",
            "security": [],
            "responses": {"200": _ok({"type": "object"})},
        }
    },
    "/api/v1/status": {
        "get": _op(
            "getStatus",
            "mode (running, paused, dry-run), pauses, dry-run rules, breakers, rules, journal, Kubernetes",
            "read",
            {"200": _ok(_ref("Status"))},
        )
    },
    "/api/v1/pause": {
        "post": _op(
            "pause",
            "pause every rule, or one, with a reason and an optional expiry",
            "admin",
            {
                "200": _ok(
                    _obj({"paused": {"type": "boolean"}, "rule": _NULLABLE_STR, "pause": _ref("Pause")})
                ),
                **_404,
            },
            description="Every decision is then recorded as `paused`; nothing acts. `remediator_paused` is 1 "
            "while a global pause is in force.",
            body="PauseRequest",
        )
    },
    "/api/v1/resume": {
        "post": _op(
            "resume",
            "lift the global pause, or one rule's",
            "admin",
            {
                "200": _ok(
                    _obj(
                        {
                            "paused": {"type": "boolean"},
                            "rule": _NULLABLE_STR,
                            "was_paused": {"type": "boolean"},
                            "lifted": _ref("Pause"),
                        }
                    )
                ),
                **_404,
            },
            body="ResumeRequest",
        )
    },
    "/api/v1/dry-run": {
        "post": _op(
            "setDryRun",
            "turn dry-run on or off, globally or for one rule",
            "admin",
            {
                "200": _ok(
                    _obj(
                        {
                            "enabled": {"type": "boolean"},
                            "rule": _NULLABLE_STR,
                            "changed": {"type": "boolean"},
                            "note": _NULLABLE_STR,
                        }
                    )
                ),
                **_404,
            },
            body="DryRunRequest",
        )
    },
    "/api/v1/rules": {
        "get": _op(
            "listRules",
            "the rules loaded",
            "read",
            {
                "200": _ok(
                    _obj(
                        {
                            "rules": {"type": "array", "items": _ref("RuleSummary")},
                            "files": {"type": "array", "items": {"type": "string"}},
                        },
                        ["rules"],
                    )
                )
            },
        )
    },
    "/api/v1/rules/{name}": {
        "get": _op(
            "getRule",
            "one rule as loaded: matchers as text, when, target templates, actions, guards, source file:line",
            "read",
            {"200": _ok(_ref("RuleDetail")), **_404},
            params=[_RULE_PATH],
        )
    },
    "/api/v1/rules/{name}/trigger": {
        "post": _op(
            "triggerRule",
            "run a rule by hand for an alert or a target (dry-run unless dry_run is false)",
            "read",
            {"200": _ok(_ref("Recorded")), **_404},
            description="Goes through the real decider with every guard in force; when it acts, the runner "
            "executes it. With `target`, a made-up alert whose labels render to that target is used, and "
            "the rule's `when` is not evaluated (there is no alert value); 400 says why when the rule's "
            "templates cannot produce the target. `dry_run: false` needs an admin token.",
            params=[_RULE_PATH],
            body="TriggerRequest",
        )
    },
    "/api/v1/reload": {
        "post": _op(
            "reload",
            "reload the rule files atomically",
            "admin",
            {
                "200": _ok(
                    _obj(
                        {
                            "result": {"type": "string"},
                            "rules": {"type": "integer"},
                            "files": {"type": "integer"},
                            "added": {"type": "array", "items": {"type": "string"}},
                            "removed": {"type": "array", "items": {"type": "string"}},
                            "changed": {"type": "array", "items": {"type": "string"}},
                        }
                    )
                ),
                "422": _error(
                    "a rule file is invalid: the previous rules stay active; detail lists path:line: msg"
                ),
            },
            body="ReloadRequest",
            body_required=False,
        )
    },
    "/api/v1/executions": {
        "get": _op(
            "listExecutions",
            "the audit trail of executions, newest first",
            "read",
            {"200": _ok(_page("executions", "Execution"))},
            params=[
                _query("rule", {"type": "string"}, "rule name"),
                _query("target", {"type": "string"}, "namespace/Kind/name, or namespace/name for any kind"),
                _query("outcome", {"type": "string", "enum": _EXECUTION_STATUSES}, "execution status"),
                _SINCE,
                _LIMIT,
                _CURSOR,
            ],
        )
    },
    "/api/v1/executions/{id}": {
        "get": _op(
            "getExecution",
            "one execution: alert, rule, decision and reason, diff, attempts, outcome, who",
            "read",
            {"200": _ok(_ref("Execution")), **_404},
            params=[_ID_PATH],
        )
    },
    "/api/v1/approvals": {
        "get": _op(
            "listApprovals",
            "actions waiting for (or decided by) a human",
            "read",
            {"200": _ok(_obj({"approvals": {"type": "array", "items": _ref("Approval")}}, ["approvals"]))},
            params=[
                _query(
                    "status", {"type": "string", "enum": ["pending", "approved", "rejected", "expired"]}, ""
                ),
                _LIMIT,
            ],
        )
    },
    "/api/v1/approvals/{id}/approve": {
        "post": _op(
            "approve",
            "approve a pending action: decided again with every other guard in force, then executed",
            "admin",
            {
                "200": _ok({"allOf": [_ref("Recorded"), _obj({"approval": _ref("Approval")}, ["approval"])]}),
                **_404,
                **_409,
            },
            params=[_ID_PATH],
            body="OptionalReasonRequest",
            body_required=False,
        )
    },
    "/api/v1/approvals/{id}/reject": {
        "post": _op(
            "reject",
            "reject a pending action (reason required)",
            "admin",
            {"200": _ok(_obj({"approval": _ref("Approval")}, ["approval"])), **_404, **_409},
            params=[_ID_PATH],
            body="ReasonRequest",
        )
    },
    "/api/v1/breakers": {
        "get": _op(
            "listBreakers",
            "circuit breakers per rule and target",
            "read",
            {"200": _ok(_obj({"breakers": {"type": "array", "items": _ref("Breaker")}}, ["breakers"]))},
        )
    },
    "/api/v1/breakers/{key}/reset": {
        "post": _op(
            "resetBreaker",
            "close a circuit breaker",
            "admin",
            {"200": _ok(_obj({"reset": {"type": "boolean"}, "was": _ref("Breaker")})), **_404},
            params=[
                _path("key", {"type": "string", "minLength": 1}, "rule:namespace/Kind/name, URL-encoded")
            ],
            body="ReasonRequest",
        )
    },
    "/api/v1/incidents": {
        "get": _op(
            "listIncidents",
            "alert episodes (fingerprint, startsAt), newest first",
            "read",
            {"200": _ok(_page("incidents", "Incident"))},
            params=[
                _query("status", {"type": "string", "enum": ["firing", "resolved"]}, ""),
                _SINCE,
                _LIMIT,
                _CURSOR,
            ],
        )
    },
    "/api/v1/incidents/{id}/timeline": {
        "get": {
            **_op(
                "getIncidentTimeline",
                "an incident's alerts, decisions, executions and escalations in time order",
                "read",
                {
                    "200": {
                        "description": "the timeline (JSON), or a postmortem draft (format=markdown)",
                        "content": {
                            "application/json": {"schema": _ref("Timeline")},
                            "text/markdown": {"schema": {"type": "string"}},
                        },
                    },
                    **_404,
                },
                params=[
                    _path("id", {"type": "string", "minLength": 1}, "incident id from the list"),
                    _query("format", {"type": "string", "enum": ["json", "markdown"], "default": "json"}, ""),
                ],
            )
        }
    },
    "/api/v1/audit": {
        "get": _op(
            "listAudit",
            "every change made through the API (and SIGHUP reloads), with who and why",
            "read",
            {"200": _ok(_page("audit", "AuditEntry"))},
            params=[
                _query("actor", {"type": "string"}, "token name"),
                _query("action", {"type": "string"}, ""),
                _LIMIT,
                _CURSOR,
            ],
        )
    },
}


def openapi() -> dict[str, Any]:
    """The document, fresh each call (callers may mutate it)."""
    return copy.deepcopy(
        {
            "openapi": "3.0.3",
            "info": {
                "title": "remediator override API",
                "version": __version__,
                "description": "On-call takes the wheel: pause, dry-run, trigger, approve, reset breakers, "
                "reload rules, and read what was done and why. Bearer tokens from `auth.api_tokens`; "
                "`x-scope` says which scope an operation needs (read or admin). Errors are "
                '`{"error": "...", "detail": ...}`.',
            },
            "servers": [{"url": "/"}],
            "paths": PATHS,
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                "schemas": SCHEMAS,
                "responses": RESPONSES,
            },
        }
    )
