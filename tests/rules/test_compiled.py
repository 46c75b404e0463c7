"""The compiled Rule's per-alert methods: match, condition, target, rendered actions."""

import pytest

from remediator.model import ActionSpec, Target
from remediator.rules import ConditionResult, Rule, load_rules_text
from tests.rules import make_alert

RULES = """\
rules:
  - name: full
    match: ['alertname = "HighErrorRate"', 'namespace =~ "prod-.*"', 'canary = ""']
    when: value > 10/min
    status: any
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions:
      - set_env: {name: "{{ labels.provider }}_FALLBACK", value: "{{ annotations.mode }}"}
      - delete_pod: {selector: "app={{ labels.deployment }}", max: 2}
      - delete_pod: {pod: "{{ labels.pod }}"}
  - name: no-condition
    match: ['alertname = "Other"']
    status: resolved
    target: {kind: StatefulSet, namespace: shop, name: db}
    actions: [rollout_restart]
"""

LABELS = {
    "alertname": "HighErrorRate",
    "namespace": "prod-eu",
    "deployment": "checkout",
    "provider": "ideogram",
    "pod": "checkout-7d9f-abcde",
}
ANNOTATIONS = {"value": "42.5", "mode": "queue"}


@pytest.fixture
def rule() -> Rule:
    found = load_rules_text(RULES).get("full")
    assert found is not None
    return found


def test_matches(rule: Rule) -> None:
    assert rule.matches(make_alert(LABELS))
    assert not rule.matches(make_alert({**LABELS, "namespace": "staging"}))
    assert not rule.matches(make_alert({**LABELS, "canary": "true"}))
    assert rule.matches(make_alert({**LABELS, "canary": ""}))


def test_condition(rule: Rule) -> None:
    assert rule.check_condition(make_alert(LABELS, ANNOTATIONS)) == ConditionResult(
        True, "value 42.5/min > 10/min"
    )
    assert rule.check_condition(make_alert(LABELS, {"value": "3"})) == ConditionResult(
        False, "value 3/min is not > 10/min"
    )
    assert rule.check_condition(make_alert(LABELS)) == ConditionResult(False, "annotation 'value' missing")
    other = load_rules_text(RULES).get("no-condition")
    assert other is not None and other.check_condition(make_alert()) == ConditionResult(True, "no condition")


def test_status(rule: Rule) -> None:
    assert rule.triggers_on("firing") and rule.triggers_on("resolved")
    other = load_rules_text(RULES).get("no-condition")
    assert other is not None
    assert other.triggers_on("resolved") and not other.triggers_on("firing")


def test_render_target(rule: Rule) -> None:
    assert rule.render_target(make_alert(LABELS)) == Target(
        kind="Deployment", namespace="prod-eu", name="checkout"
    )
    assert rule.render_target(make_alert({**LABELS, "deployment": "Checkout_API"})) == (
        "rendered name 'Checkout_API' is not a valid Kubernetes name"
    )


def test_render_actions(rule: Rule) -> None:
    assert rule.render_actions(make_alert(LABELS, ANNOTATIONS)) == (
        ActionSpec(kind="set_env", params={"name": "ideogram_FALLBACK", "value": "queue", "container": None}),
        ActionSpec(
            kind="delete_pod", params={"selector": "app=checkout", "pod": None, "max": 2, "force": None}
        ),
        ActionSpec(
            kind="delete_pod",
            params={"selector": None, "pod": "checkout-7d9f-abcde", "max": 1, "force": None},
        ),
    )
    # the compiled templates are untouched
    assert rule.actions[0].params["name"] == "{{ labels.provider }}_FALLBACK"


@pytest.mark.parametrize(
    ("labels", "annotations", "reason"),
    [
        ({"provider": ""}, {}, "action 0 (set_env) name: label 'provider' missing"),
        (
            {"provider": "open-ai"},
            {},
            "action 0 (set_env) name: rendered 'open-ai_FALLBACK' is not a valid environment variable name",
        ),
        ({}, {"mode": ""}, "action 0 (set_env) value: annotation 'mode' missing"),
        (
            {"deployment": "a b"},
            {},
            "action 1 (delete_pod) selector: rendered selector 'app=a b': "
            "'app=a b' is not a label selector requirement",
        ),
        ({"pod": "Pod_1"}, {}, "action 2 (delete_pod) pod: rendered 'Pod_1' is not a valid pod name"),
    ],
)
def test_render_actions_reasons(
    rule: Rule, labels: dict[str, str], annotations: dict[str, str], reason: str
) -> None:
    alert = make_alert({**LABELS, **labels}, {**ANNOTATIONS, **annotations})
    assert rule.render_actions(alert) == reason


def test_rules_are_hashable_and_comparable() -> None:
    a, b = load_rules_text(RULES).rules, load_rules_text(RULES).rules
    assert a == b
    assert len({*a, *b}) == 2
    assert a[0].source == "<rules>:2"
