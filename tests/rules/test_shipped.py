"""The shipped rules in `rules/` load cleanly and select the alerts their runbooks are about."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from remediator.model import ActionSpec, Alert, Target
from remediator.rules import RuleSet, load_rules
from tests.rules import make_alert

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "rules"
FIXTURES = REPO / "examples" / "alerts"


def alerts_from(fixture: str) -> list[Alert]:
    """The alerts of an Alertmanager webhook payload (just enough of the receiver's job for these tests)."""
    payload: dict[str, Any] = json.loads((FIXTURES / fixture).read_text())
    return [
        Alert(
            source="alertmanager",
            fingerprint=a["fingerprint"],
            status=a["status"],
            labels=a["labels"],
            annotations=a["annotations"],
            starts_at=datetime.fromisoformat(a["startsAt"]),
            generator_url=a["generatorURL"],
        )
        for a in payload["alerts"]
    ]


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules([SHIPPED])


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.name)
def test_each_shipped_file_loads_alone(path: Path) -> None:
    assert len(load_rules([path])) > 0


def test_shipped_rules_all_have_guards_and_descriptions(shipped: RuleSet) -> None:
    assert len(shipped) >= 9
    for rule in shipped:
        assert rule.enabled
        assert rule.description and rule.severity
        assert rule.guards.cooldown_s is not None and rule.guards.cooldown_s >= 600
        assert rule.guards.max_actions is not None
        assert rule.on_failure, f"{rule.name}: a failed remediation must reach a human"


def test_high_error_rate_rolls_back_or_restarts(shipped: RuleSet) -> None:
    (alert,) = alerts_from("firing.json")
    rules = shipped.match(alert)
    assert [r.name for r in rules] == ["rollback-on-5xx-after-deploy", "restart-on-5xx-without-deploy"]
    for rule in rules:
        assert rule.triggers_on(alert.status)
        assert rule.check_condition(alert).reason == "value 42.5/min > 10/min"
        assert rule.render_target(alert) == Target(kind="Deployment", namespace="shop", name="checkout")
    undo, restart = (r.actions[0] for r in rules)
    # the same 2h window makes the two actions mutually exclusive
    assert undo.kind == "rollout_undo" and undo.params["only_if_rolled_out_within"] == 7200
    assert restart.kind == "rollout_restart" and restart.params["unless_rolled_out_within"] == 7200


def test_resolved_alert_matches_but_does_not_trigger(shipped: RuleSet) -> None:
    (alert,) = alerts_from("resolved.json")
    rules = shipped.match(alert)
    assert [r.name for r in rules] == ["rollback-on-5xx-after-deploy", "restart-on-5xx-without-deploy"]
    assert not any(r.triggers_on(alert.status) for r in rules)


def test_auth_failures_restart_each_deployment(shipped: RuleSet) -> None:
    alerts = alerts_from("grouped-auth-failures.json")
    assert len(alerts) == 3
    targets = []
    for alert in alerts:
        (rule,) = shipped.match(alert)
        assert rule.name == "restart-on-auth-failures"
        assert rule.check_condition(alert).holds
        targets.append(rule.render_target(alert))
    assert targets == [
        Target(kind="Deployment", namespace="shop", name="image-gen"),
        Target(kind="Deployment", namespace="shop", name="image-gen-worker"),
        Target(kind="Deployment", namespace="shop", name="search"),
    ]


def test_high_latency_scales_up_within_bounds(shipped: RuleSet) -> None:
    (alert,) = alerts_from("high-latency.json")
    (rule,) = shipped.match(alert)
    assert rule.name == "scale-up-on-high-latency"
    assert rule.check_condition(alert).reason == "value 7.3s > 5s"
    assert rule.render_actions(alert) == (
        ActionSpec(
            kind="scale",
            params={"to": None, "by": 2, "factor": None, "min": 2, "max": 20, "allow_zero": False},
        ),
    )


def test_rate_limited_switches_to_queue_mode(shipped: RuleSet) -> None:
    (alert,) = alerts_from("rate-limited.json")
    (rule,) = shipped.match(alert)
    assert rule.name == "queue-requests-when-rate-limited"
    assert rule.check_condition(alert).reason == "value 12/min > 5/min"
    assert rule.render_target(alert) == Target(kind="Deployment", namespace="shop", name="image-gen")
    assert rule.render_actions(alert) == (
        ActionSpec(kind="set_env", params={"name": "RATE_LIMIT_MODE", "value": "queue", "container": None}),
    )


def job_params(
    image: str, command: list[str], env: dict[str, object], deadline: float, lines: int
) -> dict[str, object]:
    return {
        "image": image,
        "command": command,
        "env": env,
        "service_account": None,
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "active_deadline": deadline,
        "ttl_after_finished": 3600.0,
        "wait": deadline + 60.0,
        "log_lines": lines,
        "run_as_non_root": True,
    }


# Alerts without a recorded fixture, with the labels the shipped rules expect.
SYNTHETIC = [
    (
        {"alertname": "HighErrorRatio", "namespace": "shop", "deployment": "checkout", "priority": "P2"},
        {"value": "0.23"},
        "restart-on-high-error-ratio",
        "checkout",
        ActionSpec(kind="rollout_restart", params={"unless_rolled_out_within": 7200.0}),
    ),
    (
        {"alertname": "ElevatedErrorRatio", "namespace": "shop", "deployment": "checkout", "priority": "P3"},
        {"value": "0.04"},
        "rollback-recent-deploy-on-elevated-errors",
        "checkout",
        ActionSpec(kind="rollout_undo", params={"only_if_rolled_out_within": 3600.0, "to_revision": None}),
    ),
    (
        {"alertname": "ElevatedLatency", "namespace": "shop", "deployment": "search", "quantile": "0.99"},
        {"value": "3.1"},
        "scale-up-on-elevated-latency",
        "search",
        ActionSpec(
            kind="scale",
            params={"to": None, "by": 1, "factor": None, "min": 2, "max": 10, "allow_zero": False},
        ),
    ),
    (
        {"alertname": "CanaryErrorRate", "namespace": "shop", "deployment": "checkout"},
        {"value": "0.2"},
        "pause-canary-on-error-spike",
        "checkout",
        ActionSpec(kind="pause_rollout", params={"undo_if_firing_after": 600.0}),
    ),
    (
        {"alertname": "DataCorruptionDetected", "namespace": "shop", "deployment": "checkout"},
        {"value": "3"},
        "contain-by-scaling-to-zero",
        "checkout",
        ActionSpec(
            kind="scale",
            params={"to": 0, "by": None, "factor": None, "min": 0, "max": None, "allow_zero": True},
        ),
    ),
    (
        {"alertname": "CacheCorrupted", "namespace": "shop", "deployment": "image-gen"},
        {"value": "4"},
        "flush-corrupted-cache",
        "image-gen",
        ActionSpec(
            kind="run_job",
            params=job_params(
                "docker.io/bitnami/redis:7.2",
                ["redis-cli", "-h", "redis-master", "-p", "6379", "-n", "0", "FLUSHDB"],
                {"REDISCLI_AUTH": {"secret": "redis", "key": "redis-password"}},
                120.0,
                20,
            ),
        ),
    ),
    (
        {
            "alertname": "UpstreamErrors",
            "namespace": "shop",
            "deployment": "image-gen",
            "provider": "ideogram",
        },
        {},
        "fallback-on-upstream-errors",
        "image-gen",
        ActionSpec(kind="set_env", params={"name": "FALLBACK_ENABLED", "value": "true", "container": None}),
    ),
    (
        {"alertname": "QueueBacklog", "namespace": "shop", "service": "image-gen"},
        {"value": "5400"},
        "scale-workers-on-queue-backlog",
        "image-gen-worker",
        ActionSpec(
            kind="scale",
            params={"to": None, "by": 2, "factor": None, "min": 1, "max": 10, "allow_zero": False},
        ),
    ),
    (
        {
            "alertname": "PodOOMKilled",
            "namespace": "shop",
            "deployment": "search",
            "pod": "search-5d8f7-x2x9k",
        },
        {},
        "delete-oom-killed-pod",
        "search",
        ActionSpec(
            kind="delete_pod", params={"selector": None, "pod": "search-5d8f7-x2x9k", "max": 1, "force": None}
        ),
    ),
    (
        {"alertname": "MemoryHigh", "namespace": "shop", "deployment": "search"},
        {"value": "0.93"},
        "restart-on-memory-high",
        "search",
        ActionSpec(kind="rollout_restart", params={"unless_rolled_out_within": None}),
    ),
]


@pytest.mark.parametrize(("labels", "annotations", "rule_name", "target_name", "action"), SYNTHETIC)
def test_other_runbook_alerts(
    shipped: RuleSet,
    labels: dict[str, str],
    annotations: dict[str, str],
    rule_name: str,
    target_name: str,
    action: ActionSpec,
) -> None:
    alert = make_alert(labels, annotations)
    (rule,) = shipped.match(alert)
    assert rule.name == rule_name
    assert rule.check_condition(alert).holds
    assert rule.render_target(alert) == Target(kind="Deployment", namespace="shop", name=target_name)
    assert rule.render_actions(alert) == (action,)


def test_long_running_queries_terminate_with_a_fixed_query_and_approval(shipped: RuleSet) -> None:
    alert = make_alert(
        {"alertname": "LongRunningQueries", "namespace": "shop", "deployment": "orders", "datname": "app"},
        {"value": "432"},
    )
    (rule,) = shipped.match(alert)
    assert rule.name == "terminate-long-running-queries" and rule.guards.approval is True
    assert rule.check_condition(alert).reason == "value 432s > 300s"
    rendered = rule.render_actions(alert)
    assert not isinstance(rendered, str)
    [job] = rendered
    assert job.kind == "run_job" and job.params["command"][0] == "psql"
    assert all("{{" not in str(arg) for arg in job.params["command"]), "no label reaches the SQL"
    assert job.params["env"] == {"PGPASSWORD": {"secret": "postgres-remediator", "key": "password"}}


def test_service_down_restarts_asks_for_maintenance_and_leaves_it_on_recovery(shipped: RuleSet) -> None:
    labels = {
        "alertname": "ServiceDown",
        "namespace": "shop",
        "deployment": "image-gen",
        "service": "image-gen",
    }
    rules = shipped.match(make_alert(labels, {}))
    assert [r.name for r in rules] == [
        "restart-image-gen-when-down",
        "maintenance-mode-on-for-image-gen",
        "maintenance-mode-off-for-image-gen",
    ]
    restart, on, off = rules
    assert restart.confirm is not None and restart.confirm.http is not None
    assert str(restart.confirm.http.url) == "http://image-gen.shop.svc.cluster.local:8080/health"
    assert on.guards.approval is True and on.triggers_on("firing") and not on.triggers_on("resolved")
    assert off.triggers_on("resolved") and not off.triggers_on("firing")
    assert on.actions[0].params["headers"] == {
        "Authorization": {"env": "SHOP_ADMIN_TOKEN", "file": None, "prefix": "Bearer "}
    }
    assert shipped.match(make_alert({**labels, "service": "search", "deployment": "search"}, {})) == []


def test_dangerous_steps_ship_with_approval(shipped: RuleSet) -> None:
    for rule in shipped:
        kinds = {a.kind for a in rule.actions}
        zero = any(a.kind == "scale" and a.params.get("allow_zero") for a in rule.actions)
        if (kinds & {"run_job", "http_request"} and rule.status == "firing") or zero:
            assert rule.guards.approval is True, rule.name


def test_memory_high_below_threshold_does_not_hold(shipped: RuleSet) -> None:
    rule = shipped.get("restart-on-memory-high")
    assert rule is not None
    assert rule.check_condition(make_alert({}, {"value": "0.8"})).reason == "value 80% is not >= 90%"


def test_every_shipped_rule_is_reachable(shipped: RuleSet) -> None:
    alerts = [a for f in sorted(FIXTURES.glob("*.json")) for a in alerts_from(f.name)]
    alerts += [make_alert(labels, annotations) for labels, annotations, *_ in SYNTHETIC]
    alerts += [
        make_alert({"alertname": "LongRunningQueries", "namespace": "shop", "deployment": "orders"}, {}),
        make_alert(
            {
                "alertname": "ServiceDown",
                "namespace": "shop",
                "deployment": "image-gen",
                "service": "image-gen",
            },
            {},
        ),
    ]
    reached = {r.name for a in alerts for r in shipped.match(a)}
    assert reached == set(shipped.names())
