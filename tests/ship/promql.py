"""Metric names out of PromQL expressions, and remediator's metric contract.

A small tokenizer, not a parser: it drops string literals, label matchers, range and subquery
brackets, grouping label lists and Grafana variables, then keeps the identifiers that are not
functions, keywords or numbers. Enough to check which metrics an expression reads; the syntax
itself is checked by promtool (rules) and by a real Prometheus (end-to-end tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

# The metric names DESIGN.md and the brief make a contract (the dashboard and alerts use them).
# Histograms are listed by base name; their series are _bucket, _sum and _count.
CONTRACT_COUNTERS = frozenset(
    {
        "remediator_alerts_received_total",
        "remediator_rule_matches_total",
        "remediator_decisions_total",
        "remediator_webhook_requests_total",
        "remediator_journal_errors_total",
        "remediator_config_reload_total",
        "remediator_escalations_total",
        # Not in DESIGN.md's list but exposed by remediator/metrics.py: the only metric that says
        # an action *failed* (status="failed"). The dashboard and RemediatorActionsFailing use it.
        "remediator_executions_total",
    }
)
CONTRACT_GAUGES = frozenset(
    {
        "remediator_circuit_breaker_state",
        "remediator_queue_depth",
        "remediator_rules_loaded",
        "remediator_paused",
        "remediator_build_info",
        "remediator_last_alert_received_timestamp_seconds",
    }
)
CONTRACT_HISTOGRAMS = frozenset(
    {
        "remediator_action_duration_seconds",
        "remediator_time_to_remediate_seconds",
        "remediator_webhook_request_duration_seconds",
    }
)


def contract_series_names() -> frozenset[str]:
    """Every series name a query may use under the contract."""
    names = set(CONTRACT_COUNTERS) | set(CONTRACT_GAUGES)
    for h in CONTRACT_HISTOGRAMS:
        names |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    return frozenset(names)


KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "atan2",
        "inf",
        "nan",
    }
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"((?:[^"\\]|\\.)*)"')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_LABEL_VALUES = re.compile(r"\blabel_values\s*\(\s*(?P<sel>[^,()]*?(?:\{[^{}]*\})?)\s*,\s*\w+\s*\)")
_LABEL_VALUES_ONE = re.compile(r"\blabel_values\s*\(\s*\w+\s*\)")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])")
_COMMENT = re.compile(r"#[^\n]*")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression (PromQL, or a Grafana templating query) reads."""
    names: set[str] = set()
    text = _GRAFANA_VAR.sub(" ", expr)
    # Grafana's label_values(selector, label): only the selector names a metric.
    text = _LABEL_VALUES.sub(lambda m: f" {m.group('sel')} ", text)
    text = _LABEL_VALUES_ONE.sub(" ", text)
    names.update(_NAME_MATCHER.findall(text))
    text = _STRING.sub('""', text)
    text = _COMMENT.sub(" ", text)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    for m in _IDENT.finditer(text):
        ident = m.group(1)
        rest = text[m.end() :].lstrip()
        if rest.startswith("("):  # a function or an aggregation
            continue
        if ident.lower() in KEYWORDS:
            continue
        names.add(ident)
    return names


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def dashboard_expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a Grafana dashboard: panel targets (rows' nested panels too),
    templating queries and annotation queries."""
    exprs: list[str] = []
    for key, value in _walk(dashboard.get("panels", [])):
        if key == "expr" and isinstance(value, str):
            exprs.append(value)
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if isinstance(query, str) and query:
            exprs.append(query)
    for key, value in _walk(dashboard.get("annotations", {})):
        if key == "expr" and isinstance(value, str):
            exprs.append(value)
    return exprs


def rule_expressions(groups: Iterable[dict[str, Any]]) -> list[str]:
    """Every `expr` of Prometheus rule groups (a rules file's or a PrometheusRule's spec.groups)."""
    return [str(rule["expr"]) for group in groups for rule in group.get("rules", []) if "expr" in rule]
