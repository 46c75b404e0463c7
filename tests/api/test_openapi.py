"""The OpenAPI document matches the routes, and fuzzing the API from it finds no server error
and no answer the document does not describe.

The fuzz runs schemathesis' generated cases (valid ones, then invalid ones) against the real
daemon served on 127.0.0.1 with an admin token, so every state-changing endpoint is exercised
too; the daemon's clock is fake and the cluster is the fake API server. Bounded: a few examples
per operation, well under a minute.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks

from remediator.api.openapi import openapi
from remediator.api.routes import PREFIX, PUBLIC_ROUTES, ROUTES
from tests.api.conftest import ADMIN, Api, am_alert

EXAMPLES = {"positive": 12, "negative": 6}
load_all_checks()
CHECKS = REGISTRY.get_all()
"""Every check schemathesis has: no 5xx; every answer (status, content type, headers, body) is one the
document describes; invalid requests are refused, valid ones accepted; auth is not ignored; methods
and Allow headers conform."""


def _documented() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op for path, item in openapi()["paths"].items() for method, op in item.items()
    }


async def test_every_route_is_documented_and_vice_versa(api: Api) -> None:
    registered = {
        (route.method, route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(PREFIX + "/")
        and route.method != "HEAD"
    }
    documented = _documented()
    assert registered == set(documented)
    scopes = {(r.method, PREFIX + r.path): r.scope for r in ROUTES}
    for key, op in documented.items():
        if key in {(m, PREFIX + p) for m, p in PUBLIC_ROUTES}:
            assert op["security"] == []
            continue
        assert op["x-scope"] == scopes[key], key
        assert op["security"] == [{"bearer": []}]
        assert {"400", "401"} <= set(op["responses"]), key
        if scopes[key] == "admin":
            assert "403" in op["responses"], key
    status, served = await api.get("/openapi.json", token=None)
    assert status == 200 and served == openapi()
    assert served["openapi"].startswith("3.")


def _fuzz(base_url: str) -> list[str]:
    """Run schemathesis' cases for every operation (blocking: called in a thread)."""
    schema = schemathesis.openapi.from_dict(openapi())
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ROUTES) + len(PUBLIC_ROUTES)
    for mode, examples in EXAMPLES.items():
        for operation in operations:
            strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

            @hypothesis.settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=strategy)
            def run(case: Any) -> None:
                response = case.call(
                    base_url=base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10
                )
                try:
                    case.validate_response(response, checks=CHECKS)
                except BaseExceptionGroup as group:
                    answer = f"{response.status_code}: {response.text[:300]}"
                    problems.append(f"{case.method} {case.formatted_path} -> {answer}: {group.exceptions}")

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # Nothing to get wrong (no parameters, no body): there is no invalid request to make.
                assert mode == "negative", operation.label
    return problems


async def test_fuzzing_finds_no_server_error_and_no_undocumented_answer(api: Api) -> None:
    # Something in each list, so the fuzz reaches past "empty" answers.
    await api.alert(am_alert(severity="critical"), am_alert("CacheStale", deployment="search"))
    base_url = str(api.client.make_url("/")).rstrip("/")
    problems = await asyncio.wait_for(asyncio.to_thread(_fuzz, base_url), timeout=120)
    assert problems == []
    status, body = await api.get("/status")
    assert status == 200 and body["journal"]["healthy"]
