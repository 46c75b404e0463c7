"""RuleIndex: the same answers as checking every rule, at a cost independent of the rule count."""

import random
from pathlib import Path

import pytest

from remediator.model import Alert, RuleName
from remediator.rules import Matcher, MatchOp, Rule, RuleIndex, RuleSet, Template, load_rules_text
from remediator.rules.compiled import RuleGuards
from remediator.rules.templates import TargetTemplate
from tests.rules import make_alert

TARGET = TargetTemplate(kind="Deployment", namespace=Template.parse("shop"), name=Template.parse("web"))


def make_rule(name: str, *matchers: Matcher, enabled: bool = True) -> Rule:
    return Rule(
        name=RuleName(name),
        description="",
        severity="",
        source_path=Path("test.yaml"),
        source_line=1,
        matchers=matchers,
        condition=None,
        status="firing",
        target=TARGET,
        actions=(),
        guards=RuleGuards(),
        verify=None,
        on_failure=(),
        confirm=None,
        enabled=enabled,
    )


def brute_force(rules: list[Rule], alert: Alert) -> list[Rule]:
    return [r for r in rules if r.matches(alert)]


ALERTNAMES = [f"A{i}" for i in range(8)]
NAMESPACES = ["ns0", "ns1", "prod-eu", "prod-us"]
TEAMS = ["t0", "t1", ""]


def random_matcher(rng: random.Random) -> Matcher:
    label = rng.choice(["alertname", "alertname", "namespace", "team", "absent"])
    values = {"alertname": ALERTNAMES, "namespace": NAMESPACES, "team": TEAMS, "absent": ["", "x"]}[label]
    op = rng.choice(list(MatchOp))
    if op in (MatchOp.EQ, MatchOp.NE):
        return Matcher(label, op, rng.choice([*values, ""]))
    pattern = rng.choice(
        [
            "|".join(rng.sample([v for v in values if v] or ["x"], k=1)),
            "|".join(v for v in values if v),
            "A[0-3]",
            "prod-.*",
            ".*",
            ".+",
            "A1|",
            "(?i)a1",
        ]
    )
    return Matcher(label, op, pattern)


def random_alert(rng: random.Random) -> Alert:
    labels = {"alertname": rng.choice(ALERTNAMES)}
    if rng.random() < 0.8:
        labels["namespace"] = rng.choice(NAMESPACES)
    if rng.random() < 0.5:
        labels["team"] = rng.choice(TEAMS)
    if rng.random() < 0.1:
        del labels["alertname"]
    return make_alert(labels)


@pytest.mark.parametrize("seed", range(20))
def test_index_agrees_with_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    rules = [make_rule(f"r{i}", *(random_matcher(rng) for _ in range(rng.randint(1, 3)))) for i in range(200)]
    index = RuleIndex(rules)
    for _ in range(200):
        alert = random_alert(rng)
        assert index.match(alert) == brute_force(rules, alert)


def test_regex_only_rules_are_scanned_and_still_match() -> None:
    regex_only = make_rule("regex", Matcher("alertname", MatchOp.RE, "High.*"))
    not_equal = make_rule("ne", Matcher("team", MatchOp.NE, "payments"))
    index = RuleIndex([regex_only, not_equal])
    assert index.scan_size == 2
    assert index.match(make_alert({"alertname": "HighLatency"})) == [regex_only, not_equal]
    assert index.match(make_alert({"alertname": "Low", "team": "payments"})) == []


def test_literal_alternation_is_indexed_under_each_value() -> None:
    rule = make_rule("both", Matcher("alertname", MatchOp.RE, "PodOOMKilled|MemoryHigh"))
    index = RuleIndex([rule])
    assert index.scan_size == 0
    assert index.match(make_alert({"alertname": "MemoryHigh"})) == [rule]
    assert index.match(make_alert({"alertname": "PodOOMKilled"})) == [rule]
    assert index.match(make_alert({"alertname": "MemoryHighish"})) == []


def test_rules_without_alertname_are_indexed_by_another_equality() -> None:
    rule = make_rule("by-ns", Matcher("namespace", MatchOp.EQ, "shop"), Matcher("team", MatchOp.NE, "x"))
    index = RuleIndex([rule])
    assert index.scan_size == 0
    assert index.match(make_alert({"alertname": "Any", "namespace": "shop"})) == [rule]


def test_empty_equality_is_not_an_index_key() -> None:
    # `foo=""` matches alerts WITHOUT foo, which no (label, value) lookup would find.
    rule = make_rule("no-canary", Matcher("canary", MatchOp.EQ, ""))
    index = RuleIndex([rule])
    assert index.scan_size == 1
    assert index.match(make_alert({"alertname": "X"})) == [rule]


def test_results_are_in_load_order() -> None:
    rules = [
        make_rule("scan", Matcher("team", MatchOp.RE, ".*")),
        make_rule("by-name", Matcher("alertname", MatchOp.EQ, "X")),
        make_rule("by-ns", Matcher("namespace", MatchOp.EQ, "shop")),
        make_rule("scan-2", Matcher("x", MatchOp.NE, "y")),
    ]
    assert [r.name for r in RuleIndex(rules).match(make_alert({"alertname": "X", "namespace": "shop"}))] == [
        "scan",
        "by-name",
        "by-ns",
        "scan-2",
    ]


def test_ten_thousand_rules_cost_a_handful_of_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [
        make_rule(
            f"r{i}",
            Matcher("alertname", MatchOp.EQ, f"Alert{i % 5000}"),
            Matcher("namespace", MatchOp.EQ, f"ns{i % 7}"),
        )
        for i in range(10_000)
    ]
    rules += [make_rule(f"regex{i}", Matcher("alertname", MatchOp.RE, f"Other{i}.*")) for i in range(3)]
    index = RuleIndex(rules)
    alert = make_alert({"alertname": "Alert42", "namespace": "ns0", "team": "x", "severity": "critical"})

    checked: list[str] = []
    original = Rule.matches

    def counting(self: Rule, a: Alert) -> bool:
        checked.append(self.name)
        return original(self, a)

    monkeypatch.setattr(Rule, "matches", counting)
    found = index.match(alert)
    # Alert42 is shared by r42 and r5042, plus the 3 scanned regex rules: 5 checks of 10,003 rules.
    assert sorted(checked) == sorted(["r42", "r5042", "regex0", "regex1", "regex2"])
    assert [r.name for r in found] == [r.name for r in rules if original(r, alert)] == ["r42"]


def test_rule_set() -> None:
    text = """\
rules:
  - name: "on"
    match: ['alertname = "X"']
    target: {kind: Deployment, namespace: shop, name: web}
    actions: [rollout_restart]
  - name: "off"
    enabled: false
    match: ['alertname = "X"']
    target: {kind: Deployment, namespace: shop, name: web}
    actions: [rollout_restart]
"""
    rules = load_rules_text(text)
    assert rules.names() == ["on", "off"]
    assert len(rules) == 2 and [r.name for r in rules] == ["on", "off"]
    off = rules.get("off")
    assert off is not None and not off.enabled
    assert rules.get("nope") is None
    # a disabled rule is listed but never matches
    assert [r.name for r in rules.match(make_alert({"alertname": "X"}))] == ["on"]
    assert len(RuleSet()) == 0
