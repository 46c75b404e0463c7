"""Per-field validation of the rule format, through the loader (so messages and lines are real)."""

from typing import Any

import pytest

from remediator.errors import RuleLoadError
from remediator.rules import Rule, load_rules_text


def rule_text(actions: str = "[rollout_restart]", kind: str = "Deployment", **extra: str) -> str:
    lines = [
        "rules:",
        "  - name: r",
        "    match: ['alertname = \"A\"']",
        f"    target: {{kind: {kind}, namespace: shop, name: web}}",
        f"    actions: {actions}",
    ]
    lines += [f"    {key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def load_one(text: str) -> Rule:
    rules = load_rules_text(text)
    assert len(rules) == 1
    return rules.rules[0]


def error_of(text: str) -> str:
    """The single error's message, without the `path:line: rule 'r': ` prefix."""
    with pytest.raises(RuleLoadError) as e:
        load_rules_text(text)
    assert len(e.value.errors) == 1, e.value
    return e.value.errors[0].msg.removeprefix("rule 'r': ")


def params(action: str, kind: str = "Deployment", **extra: str) -> dict[str, Any]:
    return dict(load_one(rule_text(f"[{action}]", kind, **extra)).actions[0].params)


# --- actions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["rollout_restart", "rollout_restart: {}", "{rollout_restart: null}"])
def test_action_shorthands(action: str) -> None:
    assert params(action) == {"unless_rolled_out_within": None}


def test_rollout_restart_params() -> None:
    assert params("rollout_restart: {unless_rolled_out_within: 2h}") == {"unless_rolled_out_within": 7200.0}
    assert (
        error_of(rule_text("[rollout_restart: {force: true}]"))
        == "actions[0].rollout_restart: unknown key 'force'"
    )


def test_rollout_undo_params() -> None:
    assert params("rollout_undo") == {"only_if_rolled_out_within": None, "to_revision": None}
    assert params("rollout_undo: {only_if_rolled_out_within: 1h30m, to_revision: 4}") == {
        "only_if_rolled_out_within": 5400.0,
        "to_revision": 4,
    }
    assert error_of(rule_text("[rollout_undo: {to_revision: 0}]")) == (
        "actions[0].rollout_undo.to_revision: Input should be greater than or equal to 1 (got 0)"
    )


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_rollout_undo_only_on_deployments(kind: str) -> None:
    assert error_of(rule_text("[rollout_undo]", kind)) == (
        f"actions[0].rollout_undo: rollout_undo only works on a Deployment (target kind is {kind})"
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("{by: 2, max: 20}", {"to": None, "by": 2, "factor": None, "min": 1, "max": 20, "allow_zero": False}),
        ("{by: -1}", {"to": None, "by": -1, "factor": None, "min": 1, "max": None, "allow_zero": False}),
        ("{to: 3}", {"to": 3, "by": None, "factor": None, "min": 1, "max": None, "allow_zero": False}),
        (
            "{factor: 1.5, max: 9}",
            {"to": None, "by": None, "factor": 1.5, "min": 1, "max": 9, "allow_zero": False},
        ),
        (
            "{factor: 0.5, min: 2}",
            {"to": None, "by": None, "factor": 0.5, "min": 2, "max": None, "allow_zero": False},
        ),
    ],
)
def test_scale_params(action: str, expected: dict[str, Any]) -> None:
    assert params(f"scale: {action}") == expected


def test_scale_to_zero_needs_allow_zero_and_approval() -> None:
    assert error_of(rule_text("[scale: {to: 0}]")) == (
        "actions[0].scale: scaling to zero replicas needs 'allow_zero: true'"
    )
    assert error_of(rule_text("[scale: {to: 0, allow_zero: true}]")) == (
        "actions[0].scale.allow_zero: scaling to zero is dangerous: "
        "'allow_zero: true' needs 'guards: {approval: true}'"
    )
    assert params("scale: {to: 0, allow_zero: true}", guards="{approval: true}") == {
        "to": 0,
        "by": None,
        "factor": None,
        "min": 0,
        "max": None,
        "allow_zero": True,
    }


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        ("{}", "scale needs exactly one of 'to', 'by' or 'factor' (got none)"),
        ("{to: 2, factor: 2}", "scale needs exactly one of 'to', 'by' or 'factor' (got to, factor)"),
        ("{by: 0}", "scale by 0 or by a factor of 1 changes nothing"),
        ("{factor: 1}", "scale by 0 or by a factor of 1 changes nothing"),
        ("{by: 2}", "scaling up needs a 'max', so a flapping alert cannot grow the workload forever"),
        ("{factor: 2}", "scaling up needs a 'max', so a flapping alert cannot grow the workload forever"),
        ("{by: 1, min: 5, max: 2}", "scale min 5 is greater than max 2"),
        ("{to: 30, max: 20}", "scale to 30 is outside min None / max 20"),
        ("{to: 1, min: 2}", "scale to 1 is outside min 2 / max None"),
    ],
)
def test_scale_errors(action: str, problem: str) -> None:
    assert error_of(rule_text(f"[scale: {action}]")) == f"actions[0].scale: {problem}"


def test_scale_field_types() -> None:
    assert (
        error_of(rule_text("[scale: {to: 2.5}]"))
        == "actions[0].scale.to: Input should be a valid integer (got 2.5)"
    )
    assert error_of(rule_text("[scale: {factor: -1}]")) == (
        "actions[0].scale.factor: Input should be greater than 0 (got -1)"
    )
    assert error_of(rule_text("[scale: {by: 1, max: 3, allow_zero: 'no'}]")) == (
        "actions[0].scale.allow_zero: Input should be a valid boolean (got 'no')"
    )


def test_set_env_params() -> None:
    assert params("set_env: {name: RATE_LIMIT_MODE, value: queue}") == {
        "name": "RATE_LIMIT_MODE",
        "value": "queue",
        "container": None,
    }
    # YAML scalars become the strings an env var holds.
    assert params("set_env: {name: FALLBACK_ENABLED, value: true}")["value"] == "true"
    assert params("set_env: {name: WORKERS, value: 4}")["value"] == "4"
    assert params("set_env: {name: X, value: '{{ labels.provider }}', container: app}")["container"] == "app"
    assert params("set_env: {name: '{{ labels.provider }}_FALLBACK', value: 'true'}")["name"] == (
        "{{ labels.provider }}_FALLBACK"
    )


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        ("{name: RATE-LIMIT, value: q}", "name: 'RATE-LIMIT' is not a valid environment variable name"),
        ("{name: 1X, value: q}", "name: '1X' is not a valid environment variable name"),
        (
            "{name: '{{ labels.p }}-FALLBACK', value: q}",
            "name: template '{{ labels.p }}-FALLBACK' can never render",
        ),
        ("{name: X, value: '{{ labels.p | upper }}'}", "value: template '{{ labels.p | upper }}': "),
        ("{name: X, value: q, container: App}", "container: 'App' is not a valid container name"),
        ("{name: X}", "missing required key 'value'"),
    ],
)
def test_set_env_errors(action: str, problem: str) -> None:
    assert problem in error_of(rule_text(f"[set_env: {action}]"))


def test_delete_pod_params() -> None:
    # neither: the target workload's own pods
    # without `force`: evicted through the Eviction API (None); `force: delete` deletes
    assert params("delete_pod") == {"selector": None, "pod": None, "max": 1, "force": None}
    assert params("delete_pod: {max: 2}") == {"selector": None, "pod": None, "max": 2, "force": None}
    assert params("delete_pod: {pod: '{{ labels.pod }}'}") == {
        "selector": None,
        "pod": "{{ labels.pod }}",
        "max": 1,
        "force": None,
    }
    assert params("delete_pod: {selector: 'app={{ labels.deployment }}', max: 3, force: delete}") == {
        "selector": "app={{ labels.deployment }}",
        "pod": None,
        "max": 3,
        "force": "delete",
    }


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        ("{pod: a, selector: 'app=a'}", "delete_pod takes 'selector' or 'pod', not both"),
        ("{pod: a, max: 2}", "delete_pod 'max' only applies with 'selector'"),
        ("{selector: 'app=a', max: 0}", "max: Input should be greater than or equal to 1"),
        ("{selector: 'app!=a'}", "selector 'app!=a': selector must pin at least one label"),
        ("{pod: 'Web_1'}", "pod: 'Web_1' is not a valid Kubernetes name"),
        ("{pod: a, force: true}", "force: True is not a valid value (expected one of: delete)"),
        ("{pod: a, force: evict}", "force: 'evict' is not a valid value (expected one of: delete)"),
    ],
)
def test_delete_pod_errors(action: str, problem: str) -> None:
    assert problem in error_of(rule_text(f"[delete_pod: {action}]"))


def test_action_item_shape_errors() -> None:
    assert error_of(rule_text("[{rollout_restart: {}, scale: {to: 2}}]")) == (
        "actions[0]: each action is one single-key mapping like '- rollout_restart: {}' "
        "(found rollout_restart, scale)"
    )
    assert error_of(rule_text("[[rollout_restart]]")) == "actions[0]: expected a mapping, not a list"
    assert error_of(rule_text("rollout_restart")) == "actions: expected a list, not str 'rollout_restart'"


# --- the rest of a rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (
            "severity",
            "'a very long severity string beyond thirty-two chars'",
            "severity: String should have at most 32",
        ),
        ("severity", "'P1 !'", "severity: unknown severity 'P1 !'; use one of P0, P1"),
        ("severity", "urgent", "unknown severity 'urgent'; use one of P0, P1, P2, P3, P4, SEV0"),
        ("severity", "SEV2", None),
        ("severity", "critical", None),
        ("severity", "p1", None),
        ("enabled", "'yes please'", "enabled: Input should be a valid boolean"),
        ("when", "'result > 1'", "when: condition 'result > 1': 'result' is only for confirm.when"),
        ("when", "'value = 1'", "when: condition 'value = 1': use '=='"),
        (
            "confirm",
            "{query: 'up', when: 'value > 1'}",
            "confirm.when: confirm condition 'value > 1' must test",
        ),
        (
            "confirm",
            "{query: 'up', when: 'result > 1', on_unreachable: retry}",
            "confirm.on_unreachable: 'retry' is not a valid value (expected one of: skip, act)",
        ),
        (
            "confirm",
            "{when: 'result > 1'}",
            "confirm: confirm needs 'query' and 'when' (PromQL), or 'http' (a health check)",
        ),
        (
            "confirm",
            "{query: '', when: 'result > 1'}",
            "confirm.query: String should have at least 1 character",
        ),
        ("guards", "{cooldown: yes}", "guards.cooldown: True is not a duration"),
        ("guards", "{cooldown: -5}", "guards.cooldown: duration -5 must be a non-negative number of seconds"),
        (
            "guards",
            "{max_actions: {count: 0, per: 1h}}",
            "guards.max_actions.count: Input should be greater than",
        ),
        (
            "guards",
            "{max_actions: {count: 1, per: 0s}}",
            "guards.max_actions.per: duration '0s' must be greater",
        ),
        (
            "guards",
            "{circuit_breaker: {failures: 3}}",
            "guards.circuit_breaker: missing required key 'reset_after'",
        ),
        (
            "guards",
            "{retry: {attempts: 3, backoff: 5s}}",
            "guards.retry.backoff: '5s' is not a range like '1s..30s'",
        ),
        ("guards", "{approval: 'false'}", "guards.approval: Input should be a valid boolean (got 'false')"),
        ("verify", "{resolved_within: soon}", "verify.resolved_within: 'soon' is not a duration"),
        ("verify", "{resolved: 5m}", "verify: unknown key 'resolved' (did you mean 'resolved_within'?)"),
        ("on_failure", "[escalate]", None),
        (
            "on_failure",
            "[{escalate: {to: pagerduty}, notify: {}}]",
            "on_failure[0]: each on_failure step is one",
        ),
        ("status", "any", None),
        ("guards", "", None),
        ("on_failure", "", None),
        ("verify", "", None),
        ("status", "resolved", None),
        ("descripton", "x", "unknown key 'descripton' (did you mean 'description'?)"),
    ],
)
def test_rule_fields(key: str, value: str, problem: str | None) -> None:
    text = rule_text(**{key: value})
    if problem is None:
        load_one(text)
    else:
        assert problem in error_of(text)


def test_match_forms() -> None:
    as_list = load_one(rule_text()).matchers
    assert [str(m) for m in as_list] == ['alertname="A"']
    braces = load_one(rule_text().replace("['alertname = \"A\"']", '\'{alertname="A", team=~"a|b",}\''))
    assert [str(m) for m in braces.matchers] == ['alertname="A"', 'team=~"a|b"']
    # each item may hold several matchers, as in alertmanager.yml's `matchers:` list
    items = load_one(
        rule_text().replace(
            "['alertname = \"A\"']", """['{alertname="A", ns=~"shop|prod-.*"}', 'b!=c,d=e']"""
        )
    )
    assert [str(m) for m in items.matchers] == ['alertname="A"', 'ns=~"shop|prod-.*"', 'b!="c"', 'd="e"']
    for bad, problem in [
        ("'{}'", "match: match '{}' has no matchers"),
        ("'{a=b'", "match: matcher '{a=b': end of input: expected close brace"),
        ("['a=b', '{}']", "match[1]: match item '{}' has no matchers"),
        (
            "['a=b c=d']",
            "match[0]: matcher 'a=b c=d': column 5: unexpected 'c': expected a comma or close brace",
        ),
        ("[3]", "match[0]: Input should be a valid string (got 3)"),
    ]:
        assert error_of(rule_text().replace("['alertname = \"A\"']", bad)) == problem


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (
            "{kind: Deployment, namespace: Shop, name: web}",
            "target.namespace: 'Shop' is not a valid Kubernetes namespace",
        ),
        (
            "{kind: Deployment, namespace: shop, name: web_1}",
            "target.name: 'web_1' is not a valid Kubernetes name",
        ),
        (
            "{kind: Deployment, namespace: 'ns.{{ labels.x }}', name: web}",
            "target.namespace: template 'ns.{{ labels.x }}': '.'",
        ),
        (
            "{kind: Deployment, namespace: shop, name: '{{ labels.x }}_w'}",
            "'_' can never be part of a Kubernetes name",
        ),
        ("{kind: Deployment, namespace: shop, name: '{{ value }}'}", "is not a plain lookup"),
        ("{kind: Deployment, namespace: shop}", "target: missing required key 'name'"),
        (
            "{kind: Pod, namespace: shop, name: web}",
            "target.kind: 'Pod' is not a valid value (expected one of: Deployment, StatefulSet, DaemonSet)",
        ),
    ],
)
def test_target_errors(target: str, problem: str) -> None:
    text = rule_text().replace("{kind: Deployment, namespace: shop, name: web}", target)
    assert problem in error_of(text)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a", True), ("rollback-2", True), ("A", False), ("-a", False), ("a_b", False), ("a" * 64, False)],
)
def test_rule_names(name: str, ok: bool) -> None:
    text = rule_text().replace("name: r\n", f"name: '{name}'\n")
    if ok:
        assert load_one(text).name == name
    else:
        with pytest.raises(RuleLoadError, match="must be lowercase letters"):
            load_rules_text(text)
