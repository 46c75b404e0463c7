"""The OpenAPI document of the override API, generated from the route table and the pydantic models.

Served at GET /api/v1/openapi.json (no auth). Nothing here is written by hand but the words about
errors: paths, parameters, bodies and answers come from `routes.ROUTES` and `models` (pydantic's
JSON Schema, 2020-12, hence OpenAPI 3.1), so the document cannot drift from what the handlers
parse and return. The tests check it lists exactly the routes registered and fuzz the API from it
(schemathesis).
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from remediator import __version__
from remediator.api import models
from remediator.api.models import PREFIX
from remediator.api.routes import ROUTES, Route

_REF = "#/components/schemas/{model}"

_ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "the request is wrong: not JSON, not an object, a missing or invalid field, an unknown key or "
        "query parameter (detail lists each problem)",
    ),
    401: ("Unauthorized", "no bearer token, or one not in auth.api_tokens"),
    403: ("Forbidden", "a read token on an admin operation"),
    404: ("NotFound", "no such rule, execution, approval, breaker or incident"),
    409: ("Conflict", "the state forbids it (an approval already decided or expired; its rule is gone)"),
    422: (
        "Unprocessable",
        "a rule file is invalid: the previous rules stay active; detail lists path:line: msg",
    ),
    503: ("Unavailable", "the override API is not wired in this process, or the journal is unavailable"),
}


def _schemas() -> dict[str, Any]:
    """Every model a route names, under components/schemas (requests as validated, answers as sent)."""
    requests = {r.body for r in ROUTES if r.body is not None}
    answers = {r.response for r in ROUTES} | {models.Error}
    mode: dict[type[BaseModel], Literal["validation", "serialization"]] = {
        m: "serialization" for m in answers
    }
    mode.update({m: "validation" for m in requests})
    _, top = models_json_schema(
        [(m, mode[m]) for m in sorted(mode, key=lambda m: m.__name__)], ref_template=_REF
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    for route in ROUTES:  # the enums the parameters refer to
        for params in (route.path_model, route.query):
            if params is not None:
                schemas.update(
                    params.model_json_schema(ref_template=_REF, mode="validation").get("$defs", {})
                )
    return schemas


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the `null` an optional field adds: absent is how a query omits it."""
    options = schema.get("anyOf")
    if options is not None:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _parameters(model: type[BaseModel], where: Literal["path", "query"]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF, mode="validation")
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(prop)
        prop.pop("title", None)
        if prop.get("default", "") is None:
            del prop["default"]  # absent, not null
        description = prop.pop("description", "")
        out.append(
            {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                "schema": prop,
                "description": description,
            }
        )
    return out


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(route: Route) -> dict[str, Any]:
    ok: dict[str, Any] = {"application/json": {"schema": _ref(route.response)}}
    if route.markdown:
        ok["text/markdown"] = {"schema": {"type": "string"}}
    statuses = {400, 401, 503, *route.refusals}
    if route.scope == "admin" or route.may_need_admin:
        statuses.add(403)
    responses: dict[str, Any] = {"200": {"description": "OK", "content": ok}}
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": route.description or route.summary,
        "security": [{"bearer": []}],
        "x-scope": route.scope,
        "responses": responses,
    }
    parameters = _parameters(route.path_model, "path")
    if route.query is not None:
        parameters += _parameters(route.query, "query")
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    return op


@functools.cache
def _document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {
        PREFIX + "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "this document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
    }
    for route in ROUTES:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "remediator override API",
            "version": __version__,
            "description": "On-call takes the wheel: pause, dry-run, trigger, approve, reset breakers, "
            "reload rules, and read what was done and why. Bearer tokens from `auth.api_tokens`; "
            "`x-scope` says which scope an operation needs (read or admin). Errors are "
            '`{"error": "...", "detail": ...}`.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
            "responses": {
                name: {"description": text, "content": {"application/json": {"schema": _ref(models.Error)}}}
                for name, text in _ERRORS.values()
            },
        },
    }


def openapi() -> dict[str, Any]:
    """The document, fresh each call (callers may mutate it)."""
    return copy.deepcopy(_document())


async def openapi_document(request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi())
