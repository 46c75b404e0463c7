"""config/prometheus/alerts.yaml (promtool check + unit tests), config/alertmanager.yaml (amtool),
and the contract between those alerts and the remediation rules shipped in rules/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ship.conftest import PROMETHEUS_DIR, REPO, require_tool

ALERTS = PROMETHEUS_DIR / "alerts.yaml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yaml"
ALERTMANAGER = REPO / "config" / "alertmanager.yaml"
RULES_DIR = REPO / "rules"

# The runbook alerts the brief asks for (ServiceDown is DESIGN.md's "complete outage" alert).
RUNBOOK_ALERTS = {
    "HighErrorRate",
    "ServiceDown",
    "AuthFailures",
    "RateLimited",
    "UpstreamErrors",
    "HighLatency",
    "PodOOMKilled",
    "MemoryHigh",
    "QueueBacklog",
    # error-rate and latency tiers, canary, cache, database, containment (docs/runbooks.md)
    "HighErrorRatio",
    "ElevatedErrorRatio",
    "ElevatedLatency",
    "CanaryErrorRate",
    "CacheCorrupted",
    "LongRunningQueries",
    "DataCorruptionDetected",
}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in _load(ALERTS)["groups"] for r in g["rules"] if "alert" in r}


def _firing_expectations() -> dict[str, list[dict[str, Any]]]:
    """alertname -> the alerts promtool's unit tests expect to fire (labels and annotations)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for test in _load(ALERTS_TEST)["tests"]:
        for case in test.get("alert_rule_test", []):
            found.setdefault(case["alertname"], []).extend(case.get("exp_alerts") or [])
    return found


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120, cwd=PROMETHEUS_DIR)


# ------------------------------------------------------------------------------------ promtool


def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool", "prometheus")
    result = _run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_unit_tests() -> None:
    promtool = require_tool("promtool", "prometheus")
    result = _run(promtool, "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# ------------------------------------------------------------------------------------ the alerts


def test_every_runbook_alert_is_defined() -> None:
    assert set(_alerts()) == RUNBOOK_ALERTS


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in _load(ALERTS_TEST)["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert firing == RUNBOOK_ALERTS
    assert quiet == RUNBOOK_ALERTS
    # Each test also feeds look-alike series that must not fire: more series than firing alerts.
    for test in _load(ALERTS_TEST)["tests"]:
        fired = sum(len(c.get("exp_alerts") or []) for c in test["alert_rule_test"])
        assert len(test["input_series"]) > fired, test["name"]


@pytest.mark.parametrize("name", sorted(RUNBOOK_ALERTS))
def test_alert_shape(name: str) -> None:
    rule = _alerts()[name]
    assert rule["annotations"]["value"] == "{{ $value }}"
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["runbook_url"].startswith("https://")
    assert rule["labels"]["severity"] in ("critical", "warning")
    # Short `for:` (remediation is only useful early); the OOM alert is an event and has none.
    if name != "PodOOMKilled":
        minutes = int(re.fullmatch(r"(\d+)m", rule["for"]).group(1))  # type: ignore[union-attr]
        assert 1 <= minutes <= 10
    # The labels every shipped rule targets by.
    for exp in _firing_expectations()[name]:
        assert {"namespace", "deployment", "severity"} <= set(exp["exp_labels"]), name


# ------------------------------------------------------------------ contract with rules/*.yaml

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
_LABEL_REF = re.compile(r"\{\{\s*labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _matches(op: str, want: str, value: str | None) -> bool:
    value = value or ""
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    hit = re.fullmatch(want, value) is not None  # Alertmanager matchers are anchored
    return hit if op == "=~" else not hit


def _shipped_rules() -> list[tuple[Path, dict[str, Any]]]:
    rules: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(RULES_DIR.glob("*.y*ml")):
        for rule in (_load(path) or {}).get("rules", []):
            rules.append((path, rule))
    return rules


def test_shipped_rules_match_the_alerts_as_they_fire() -> None:
    """For each shipped rule on one of our alerts: the alert, as promtool's unit tests see it fire,
    passes every matcher of the rule, carries every label the rule's templates read, and its
    `value` annotation satisfies the rule's `when:` threshold (in the rule's units)."""
    from remediator.rules.thresholds import parse_threshold

    rules = _shipped_rules()
    if not rules:
        pytest.skip("no rule files in rules/ yet")
    expectations = _firing_expectations()
    checked = 0
    problems: list[str] = []
    for path, rule in rules:
        matchers = [_MATCHER.match(m) for m in rule.get("match", [])]
        assert all(matchers), f"{path.name}: {rule['name']}: unparsed matcher in {rule.get('match')}"
        alertnames = [m.group(3) for m in matchers if m and m.group(1) == "alertname" and m.group(2) == "="]
        if not alertnames:
            continue
        alertname = alertnames[0]
        if alertname not in expectations:
            problems.append(f"{path.name}: {rule['name']}: alert {alertname} is not in alerts.yaml")
            continue
        referenced = set(_LABEL_REF.findall(yaml.safe_dump(rule)))
        # A rule pinned to one service (a literal `service = "image-gen"`: HTTP steps name their host)
        # is held to the alerts of that service; every other rule to each alert as it fires.
        pinned = [m for m in matchers if m and m.group(1) not in ("alertname",) and m.group(2) == "="]
        firing = expectations[alertname]
        if pinned:
            firing = [e for e in firing if all(e["exp_labels"].get(m.group(1)) == m.group(3) for m in pinned)]
            if not firing:
                problems.append(
                    f"{rule['name']}: no firing {alertname} in the promtool tests matches {pinned}"
                )
        for exp in firing:
            labels = {"alertname": alertname, **exp["exp_labels"]}
            for m in matchers:
                assert m is not None
                if not _matches(m.group(2), m.group(3), labels.get(m.group(1))):
                    problems.append(f"{rule['name']}: matcher {m.group(0).strip()} fails on {labels}")
            missing = referenced - set(labels)
            if missing:
                problems.append(f"{rule['name']}: {alertname} lacks labels {sorted(missing)}")
            if "when" in rule:
                threshold = parse_threshold(rule["when"])
                source = {"labels": labels, "annotations": exp["exp_annotations"]}.get(
                    threshold.subject.source
                )
                if source is not None:
                    result = threshold.check(source.get(threshold.subject.key))
                    if not result:
                        problems.append(f"{rule['name']}: when {rule['when']!r} fails: {result}")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked > 0


# ------------------------------------------------------------------------------------ Alertmanager


def test_amtool_check_config() -> None:
    amtool = require_tool("amtool", "prometheus-alertmanager")
    result = _run(amtool, "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("alertname", sorted(RUNBOOK_ALERTS))
def test_amtool_routes_every_alert_to_remediator(alertname: str) -> None:
    amtool = require_tool("amtool", "prometheus-alertmanager")
    result = _run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        "--verify.receivers=remediator",
        f"alertname={alertname}",
        "namespace=prod-api",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_other_alerts_stay_with_humans() -> None:
    amtool = require_tool("amtool", "prometheus-alertmanager")
    result = _run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        "--verify.receivers=default",
        "alertname=HighErrorRateBudgetBurn",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_webhook_receiver() -> None:
    config = _load(ALERTMANAGER)
    receiver = next(r for r in config["receivers"] if r["name"] == "remediator")
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == "http://remediator.remediator.svc:8080/webhook/alertmanager"
    assert hook["send_resolved"] is True
    assert hook["max_alerts"] == 100
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    assert auth["credentials_file"].startswith("/")
    assert "credentials" not in auth  # never the token itself in the file
    route = next(r for r in config["route"]["routes"] if r["receiver"] == "remediator")
    assert route["group_by"] == ["alertname", "namespace"]
    assert config["route"]["group_by"] == ["alertname", "namespace"]
