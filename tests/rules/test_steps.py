"""The steps beyond workload patches, as rule files write them: where labels may go, and where never."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from remediator.model import ActionSpec, Alert
from remediator.rules.steps import image_problem, job_arg_problem
from tests.rules.test_schema import error_of, load_one, params, rule_text


def alert(**labels: str) -> Alert:
    return Alert(
        source="manual",
        fingerprint="f",
        status="firing",
        labels=labels,
        annotations={"tag": labels.pop("_tag", "")} if "_tag" in labels else {},
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def rendered(action: str, a: Alert, kind: str = "Deployment") -> tuple[ActionSpec, ...] | str:
    return load_one(rule_text(f"[{action}]", kind)).render_actions(a)


# --- http_request -------------------------------------------------------------------------------------


def test_http_request_params_and_defaults() -> None:
    got = params(
        "http_request: {url: 'https://api.shop.svc/admin/maintenance', body: {enabled: true}, "
        "headers: {Authorization: {env: SHOP_ADMIN_TOKEN, prefix: 'Bearer '}, X-Reason: remediator}}"
    )
    assert got == {
        "method": "POST",
        "url": "https://api.shop.svc/admin/maintenance",
        "headers": {
            "Authorization": {"env": "SHOP_ADMIN_TOKEN", "file": None, "prefix": "Bearer "},
            "X-Reason": "remediator",
        },
        "body": {"enabled": True},
        "expect_status": [200, 201, 202, 204],
        "timeout": 10.0,
    }


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        ("http_request: {url: 'https://{{ labels.host }}/x'}", "only in the path and query"),
        (
            "http_request: {url: 'https://a.svc/x', headers: {Authorization: 'Bearer abc'}}",
            "looks like a credential",
        ),
        ("http_request: {url: 'https://a.svc/x', headers: {X-Api-Key: abc}}", "looks like a credential"),
        (
            "http_request: {url: 'https://a.svc/x', headers: {X-Who: '{{ labels.who }}'}}",
            "header values are literal",
        ),
        ("http_request: {url: 'https://a.svc/x', headers: {Host: evil}}", "set by remediator itself"),
        ("http_request: {url: 'https://a.svc/x', body: {why: '{{ labels.x }}'}}", "the body is literal"),
        ("http_request: {url: 'https://a.svc/x', method: GET, body: {a: 1}}", "takes no body"),
        ("http_request: {url: 'https://a.svc/x', method: TRACE}", "TRACE"),
        ("http_request: {url: 'https://a.svc/x', timeout: 10m}", "less than or equal to 300"),
        ("http_request: {url: 'https://a.svc/x', headers: {A: {env: X, file: /y}}}", "exactly one of"),
    ],
)
def test_http_request_refused(action: str, problem: str) -> None:
    assert problem in error_of(rule_text(f"[{action}]"))


def test_http_request_url_rendered_per_alert() -> None:
    action = "http_request: {url: 'https://api.shop.svc/cache/{{ labels.cache }}/flush'}"
    got = rendered(action, alert(cache="sessions/../../admin"))
    assert not isinstance(got, str)
    assert got[0].params["url"] == "https://api.shop.svc/cache/sessions%2F..%2F..%2Fadmin/flush"
    assert rendered(action, alert(cache="..")) == (
        "action 0 (http_request) url: a label value '..' cannot be a URL path segment"
    )


# --- run_job --------------------------------------------------------------------------------------------

FLUSH = (
    "run_job: {image: 'bitnami/redis:7.2', command: [redis-cli, -h, '{{ labels.redis_host }}', FLUSHDB], "
    "env: {REDISCLI_AUTH: {secret: redis-auth, key: password}}}"
)


def test_run_job_params() -> None:
    got = params(FLUSH)
    assert got == {
        "image": "bitnami/redis:7.2",
        "command": ["redis-cli", "-h", "{{ labels.redis_host }}", "FLUSHDB"],
        "env": {"REDISCLI_AUTH": {"secret": "redis-auth", "key": "password"}},
        "service_account": None,
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "active_deadline": 300.0,
        "ttl_after_finished": 3600.0,
        "wait": 360.0,
        "log_lines": 50,
        "run_as_non_root": True,
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("redis\nFLUSHALL", "newline or a control character"),
        ("--flushall", "starts with '-'"),
        ("x" * 300, "longer than 256"),
    ],
)
def test_run_job_rendered_arguments_are_checked(value: str, problem: str) -> None:
    got = rendered(FLUSH, alert(redis_host=value))
    assert isinstance(got, str)
    assert got.startswith("action 0 (run_job) command[2]: rendered value")
    assert problem in got


def test_run_job_renders_a_clean_argument_as_one_item() -> None:
    got = rendered(FLUSH, alert(redis_host="redis-master.shop.svc; rm -rf /"))
    assert not isinstance(got, str)
    assert got[0].params["command"] == ["redis-cli", "-h", "redis-master.shop.svc; rm -rf /", "FLUSHDB"]


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (
            "run_job: {image: 'busybox:1', command: [sh, -c, 'echo {{ labels.x }}']}",
            "interprets its arguments",
        ),
        (
            "run_job: {image: 'busybox:1', command: [/bin/bash, -c, '{{ labels.x }}']}",
            "interprets its arguments",
        ),
        ("run_job: {image: 'busybox:1', command: ['{{ labels.prog }}']}", "must be literal"),
        ("run_job: {image: 'busybox', command: [true]}", "no tag or digest"),
        ("run_job: {image: 'Bad Image:1', command: [true]}", "not a valid image reference"),
        ("run_job: {image: '{{ labels.image }}', command: [true]}", "only in the tag"),
        ("run_job: {image: 'busybox:1', command: []}", "must not be empty"),
        ("run_job: {image: 'busybox:1', command: [true], resources: {limits: {cpu: lots}}}", "quantity"),
        (
            "run_job: {image: 'busybox:1', command: [true], env: {A: {secret: Bad_Name, key: k}}}",
            "Secret name",
        ),
    ],
)
def test_run_job_refused(action: str, problem: str) -> None:
    assert problem in error_of(rule_text(f"[{action}]"))


# --- set_image, pause/resume ------------------------------------------------------------------------------


def test_set_image_tag_template() -> None:
    action = "set_image: {image: 'registry.example.com:5000/shop/api:{{ annotations.tag }}', container: app}"
    assert params(action) == {
        "image": "registry.example.com:5000/shop/api:{{ annotations.tag }}",
        "container": "app",
    }
    ok = rendered(action, alert(_tag="v1.2.3-hotfix"))
    assert not isinstance(ok, str)
    assert ok[0].params["image"] == "registry.example.com:5000/shop/api:v1.2.3-hotfix"
    bad = rendered(action, alert(_tag="x@evil.io/x"))
    assert isinstance(bad, str) and "not a valid image reference" in bad


def test_pause_and_resume_only_on_deployments() -> None:
    assert params("pause_rollout: {undo_if_firing_after: 10m}") == {"undo_if_firing_after": 600.0}
    assert params("resume_rollout") == {}
    assert "pause_rollout only works on a Deployment" in error_of(rule_text("[pause_rollout]", "StatefulSet"))


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("nginx:1.25", True),
        ("docker.io/library/nginx:1.25", True),
        ("localhost:5000/a/b@sha256:" + "a" * 64, True),
        ("nginx", False),
        ("nginx:", False),
        ("NGINX:1", False),
    ],
)
def test_image_references(ref: str, ok: bool) -> None:
    assert (image_problem(ref) is None) is ok


def test_job_arg_problem_accepts_plain_values() -> None:
    assert job_arg_problem("orders_db") is None
    assert job_arg_problem("") == "is empty"


# --- confirm and verify checks ------------------------------------------------------------------------------


def test_confirm_http_and_verify_checks() -> None:
    rule = load_one(
        rule_text(
            confirm="{http: {url: 'http://api.shop.svc:8080/health', "
            "condition: 'services.db.connected == true'}}",
            verify="{healthy: {http: {url: 'http://api.shop.svc:8080/health'}, within: 5m}, "
            "metric: {query: 'sum(rate(errors[5m]))', below: 0.01, within: 10m}}",
        )
    )
    assert rule.confirm is not None and rule.confirm.http is not None
    assert rule.confirm.http.describe() == (
        "GET http://api.shop.svc:8080/health answers 200 and services.db.connected == true"
    )
    assert rule.verify is not None and rule.verify.metric is not None
    assert (rule.verify.healthy_within_s, rule.verify.metric.below, rule.verify.window_s) == (
        300.0,
        0.01,
        600.0,
    )


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"confirm": "{query: up, when: 'result > 0', http: {url: 'http://a.svc/h'}}"}, "not both"),
        ({"confirm": "{http: {url: 'http://a.svc/h', condition: 'a =='}}"}, "not a JSON literal"),
        ({"verify": "{healthy: {http: {url: 'http://a.svc/h'}}}"}, "missing required key 'within'"),
        ({"verify": "{metric: {query: '{{ x }}', below: 1, within: 1m}}"}, "not a plain lookup"),
    ],
)
def test_check_errors(extra: dict[str, Any], problem: str) -> None:
    assert problem in error_of(rule_text(**extra))
