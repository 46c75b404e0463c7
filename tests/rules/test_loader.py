import os
import random
import time
from pathlib import Path

import pytest
import yaml

from remediator.errors import RuleLoadError
from remediator.model import ActionSpec, Target
from remediator.rules import RuleSet, load_rules, load_rules_text, loader
from remediator.rules.compiled import BreakerPolicy, MaxActions, RetryPolicy, RuleGuards, VerifySpec
from remediator.rules.loader import MAX_RULE_FILE_BYTES, find_rule_files
from tests.rules import make_alert

TESTDATA = Path(__file__).parent / "testdata"

VALID_RULE = """\
rules:
  - name: {name}
    match: ['alertname = "{name}"']
    target: {{kind: Deployment, namespace: shop, name: web}}
    actions: [rollout_restart]
"""


def load_errors(paths: list[Path]) -> list[str]:
    with pytest.raises(RuleLoadError) as e:
        load_rules(paths)
    assert str(e.value) == "\n".join(str(err) for err in e.value.errors)
    return [str(err) for err in e.value.errors]


def text_errors(text: str, path: str = "r.yaml") -> list[str]:
    with pytest.raises(RuleLoadError) as e:
        load_rules_text(text, path)
    return [str(err) for err in e.value.errors]


def test_every_key_compiles() -> None:
    rules = load_rules([TESTDATA / "full.yaml"])
    assert rules.names() == ["rollback-on-5xx-after-deploy", "minimal"]
    rule = rules.get("rollback-on-5xx-after-deploy")
    assert rule is not None
    assert rule.source == f"{TESTDATA / 'full.yaml'}:3"
    assert (rule.description, rule.severity, rule.status, rule.enabled) == (
        "API 5xx above 10/min soon after a deploy -> roll back",
        "P1",
        "firing",
        True,
    )
    assert [str(m) for m in rule.matchers] == ['alertname="HighErrorRate"', 'namespace=~"prod-.*"']
    assert str(rule.condition) == "value > 10/min"
    assert rule.actions == (
        ActionSpec(kind="rollout_undo", params={"only_if_rolled_out_within": 7200.0, "to_revision": 3}),
        ActionSpec(kind="rollout_restart", params={"unless_rolled_out_within": None}),
        ActionSpec(
            kind="scale",
            params={"to": None, "by": 2, "factor": None, "min": 2, "max": 20, "allow_zero": False},
        ),
        ActionSpec(kind="set_env", params={"name": "RATE_LIMIT_MODE", "value": "queue", "container": "app"}),
        ActionSpec(
            kind="delete_pod",
            params={"selector": "app={{ labels.deployment }}", "pod": None, "max": 2, "force": None},
        ),
        ActionSpec(
            kind="delete_pod", params={"selector": None, "pod": "{{ labels.pod }}", "max": 1, "force": None}
        ),
    )
    assert rule.guards == RuleGuards(
        cooldown_s=900.0,
        max_actions=MaxActions(count=3, per_s=3600.0),
        breaker=BreakerPolicy(failures=3, reset_after_s=1800.0),
        retry=RetryPolicy(attempts=4, backoff_min_s=1.0, backoff_max_s=30.0),
        approval=False,
        dry_run=True,
    )
    assert rule.verify == VerifySpec(rollout_complete_within_s=300.0, resolved_within_s=5400.0)
    assert [(f.kind, dict(f.params)) for f in rule.on_failure] == [
        ("escalate", {"to": "pagerduty"}),
        ("notify", {"channel": "ops"}),
    ]
    assert rule.confirm is not None
    assert rule.confirm.on_unreachable == "act"
    assert str(rule.confirm.when) == "result > 10"
    assert rule.confirm.query.render(make_alert({"service": "checkout"})) == (
        'sum(rate(http_requests_total{status=~"5..",service="checkout"}[1m])) * 60'
    )
    assert rule.render_target(make_alert({"namespace": "prod-eu", "service": "checkout"})) == Target(
        kind="Deployment", namespace="prod-eu", name="checkout"
    )


def test_defaults_of_a_minimal_rule() -> None:
    rule = load_rules([TESTDATA / "full.yaml"]).get("minimal")
    assert rule is not None
    assert (rule.description, rule.severity, rule.status, rule.enabled) == ("", "", "firing", True)
    assert rule.condition is None and rule.confirm is None and rule.verify is None
    assert rule.on_failure == ()
    assert rule.guards == RuleGuards()
    assert rule.source_line == 39


def test_bad_file_reports_every_error_at_its_line() -> None:
    p = TESTDATA / "bad.yaml"
    many = "rule 'many-mistakes': "
    expected = [
        (
            3,
            "rule 'Bad_Name': name: rule name 'Bad_Name' must be lowercase letters, digits and '-' "
            "(at most 63)",
        ),
        (
            10,
            many + "match[1]: matcher 'foo =~ \"[a-\"': column 8: invalid regex '[a-' for label 'foo': "
            "missing ]: [a-",
        ),
        (
            11,
            many + "when: condition 'value > 10/day': threshold '10/day' is not a number "
            "with an optional unit (ms, s, m, h, d, /s, /min, /h, %)",
        ),
        (
            15,
            many + "target.name: template '{{ labels.x | lower }}': {{ labels.x | lower }} "
            "is not a plain lookup; only {{ labels.NAME }} and {{ annotations.NAME }} are allowed",
        ),
        (
            17,
            many + "actions[0].rollout_undo.only_if_rolled_out_within: "
            "'2x' is not a duration like '30s', '15m' or '1h30m'",
        ),
        (18, many + "actions[1].scale.max: Input should be a valid integer (got '20')"),
        (
            19,
            many + "actions[2]: unknown action 'restart' "
            "(expected one of: rollout_restart, rollout_undo, scale, set_env, delete_pod, set_image, "
            "pause_rollout, resume_rollout, run_job, http_request)",
        ),
        (20, many + "actions[3].scale: scale needs exactly one of 'to', 'by' or 'factor' (got to, by)"),
        (
            21,
            many + "actions[4].set_env.name: 'RATE-LIMIT' is not a valid environment variable name "
            "([A-Za-z_][A-Za-z0-9_]*)",
        ),
        (22, many + "actions[5].delete_pod: delete_pod takes 'selector' or 'pod', not both"),
        (24, many + "guards: unknown key 'cooldwon' (did you mean 'cooldown'?)"),
        (25, many + "guards.retry.backoff: range '30s..1s': minimum is greater than maximum"),
        (26, many + "status: 'fring' is not a valid value (did you mean 'firing'?)"),
        (
            28,
            many + "on_failure[0]: unknown on_failure step 'page' "
            "(expected one of: escalate, notify, webhook)",
        ),
        (
            33,
            "rule 'cross-field': actions[0].rollout_undo: rollout_undo only works on a Deployment "
            "(target kind is StatefulSet)",
        ),
        (
            34,
            "rule 'cross-field': actions[1].scale.allow_zero: scaling to zero is dangerous: "
            "'allow_zero: true' needs 'guards: {approval: true}'",
        ),
        (35, "rule 'no-target': missing required key 'target'"),
        (36, "rule 'no-target': match: must not be empty"),
        (37, "rule 'no-target': actions: must not be empty"),
        (38, "rules[4]: a rule is a mapping, not str 'not a rule'"),
    ]
    assert load_errors([p]) == [f"{p}:{line}: {msg}" for line, msg in expected]


def test_duplicate_names_across_files_name_both_places() -> None:
    a, b = TESTDATA / "dup-a.yaml", TESTDATA / "dup-b.yaml"
    assert load_errors([a, b]) == [f"{b}:7: rule 'same-name': duplicate rule name, first defined at {a}:2"]


def test_errors_are_collected_across_all_files() -> None:
    errors = load_errors([TESTDATA / "bad.yaml", TESTDATA / "dup-a.yaml", TESTDATA / "dup-b.yaml"])
    assert len(errors) == 21
    assert errors[-1].startswith(f"{TESTDATA / 'dup-b.yaml'}:7: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - name: x\n    match: [a=b\n", "r.yaml:4: invalid YAML: expected ',' or ']'"),
        ("rules:\n  - name: x\n   bad: indent\n", "r.yaml:3: invalid YAML:"),
        ("rules: [\n", "r.yaml:2: invalid YAML:"),
        ("\t", "r.yaml:1: invalid YAML: found character '\\t'"),
        (
            "rules: !!python/object:os.system {}\n",
            "r.yaml:1: invalid YAML: could not determine a constructor",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "r.yaml:2: invalid YAML: expected a single document in the stream at line 1, "
            "but found another document",
        ),
    ],
)
def test_yaml_syntax_errors_have_a_line(text: str, expected: str) -> None:
    errors = text_errors(text)
    assert len(errors) == 1
    assert errors[0].startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["r.yaml:1: empty rule file: expected a mapping with a 'rules:' list"]),
        ("# only a comment\n", ["r.yaml:1: empty rule file: expected a mapping with a 'rules:' list"]),
        ("\n\n- a\n", ["r.yaml:3: a rule file is a mapping with a 'rules:' list, not a list"]),
        ("just text\n", ["r.yaml:1: a rule file is a mapping with a 'rules:' list, not str 'just text'"]),
        (
            "\nrule: []\n",
            [
                "r.yaml:2: unknown top-level key 'rule' (a rule file only has 'rules:')",
                "r.yaml:2: missing the 'rules:' list",
            ],
        ),
        ("rules: 3\n", ["r.yaml:1: 'rules' must be a list of rules, not int 3"]),
        ("rules:\n  x: 1\n", ["r.yaml:1: 'rules' must be a list of rules, not a mapping"]),
    ],
)
def test_top_level_shape_errors(text: str, expected: list[str]) -> None:
    assert text_errors(text) == expected


def test_rules_key_without_rules_is_an_empty_file() -> None:
    assert len(load_rules_text("rules:\n")) == 0
    assert len(load_rules_text("rules: []\n")) == 0


def test_duplicate_yaml_keys_are_errors() -> None:
    text = VALID_RULE.format(name="a") + "    actions: [scale]\n"
    assert text_errors(text) == [
        "r.yaml:6: duplicate key 'actions' (first at line 5)",
        # YAML keeps the last value, and the error about it points at the last key.
        "r.yaml:6: rule 'a': actions[0].scale: scale needs exactly one of 'to', 'by' or 'factor' (got none)",
    ]


def test_missing_key_points_at_the_parent_mapping() -> None:
    text = (
        "rules:\n  - name: a\n    match: [x=y]\n    target:\n      kind: Deployment\n      name: web\n"
        "    actions: [rollout_restart]\n"
    )
    assert text_errors(text) == ["r.yaml:4: rule 'a': target: missing required key 'namespace'"]


def test_flow_mapping_errors_point_at_their_own_line() -> None:
    text = (
        "rules:\n  - {name: a, match: [x=y],\n     target: {kind: Pod, namespace: s, name: w},\n"
        "     actions: [rollout_restart]}\n"
    )
    assert text_errors(text) == [
        "r.yaml:3: rule 'a': target.kind: 'Pod' is not a valid value "
        "(expected one of: Deployment, StatefulSet, DaemonSet)"
    ]


def test_yaml_booleans_in_text_fields_get_a_hint() -> None:
    assert text_errors(VALID_RULE.format(name="off")) == [
        "r.yaml:2: rules[0]: name: Input should be a valid string (got False); "
        "YAML reads unquoted yes/no/on/off as booleans, so quote the text"
    ]


def test_rule_without_a_name_is_named_by_position() -> None:
    text = (
        "rules:\n  - match: [x=y]\n    target: {kind: Deployment, namespace: s, name: w}\n"
        "    actions: [rollout_restart]\n"
    )
    assert text_errors(text) == ["r.yaml:2: rules[0]: missing required key 'name'"]


def test_directories_are_searched_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.yml").write_text(VALID_RULE.format(name="two"))
    (tmp_path / "a.yaml").write_text(VALID_RULE.format(name="one"))
    (tmp_path / "c.yaml").write_text(VALID_RULE.format(name="three"))
    (tmp_path / "notes.txt").write_text("not yaml")
    (tmp_path / ".hidden.yaml").write_text("broken: [")
    rules = load_rules([tmp_path])
    assert rules.names() == ["one", "two", "three"]
    assert rules.files == (tmp_path / "a.yaml", tmp_path / "b" / "two.yml", tmp_path / "c.yaml")


def test_a_mounted_configmap_loads_each_file_once(tmp_path: Path) -> None:
    # kubelet's layout: the real files live in a hidden timestamped dir, reached via the ..data symlink.
    stamp = tmp_path / "..2026_11_23_00_00_00.1"
    stamp.mkdir()
    (stamp / "api.yaml").write_text(VALID_RULE.format(name="api"))
    (tmp_path / "..data").symlink_to(stamp.name)
    (tmp_path / "api.yaml").symlink_to("..data/api.yaml")
    assert load_rules([tmp_path]).names() == ["api"]


def test_the_same_file_named_twice_loads_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID_RULE.format(name="one"))
    assert load_rules([tmp_path, tmp_path / "a.yaml"]).names() == ["one"]


def test_symlink_loops_terminate(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)
    (tmp_path / "a.yaml").write_text(VALID_RULE.format(name="one"))
    assert load_rules([tmp_path]).names() == ["one"]


def test_empty_directory_is_an_empty_rule_set(tmp_path: Path) -> None:
    rules = load_rules([tmp_path])
    assert isinstance(rules, RuleSet)
    assert len(rules) == 0
    assert rules.match(make_alert({"alertname": "X"})) == []
    assert len(load_rules([])) == 0


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert load_errors([missing]) == [f"{missing}:1: no such rule file or directory"]
    assert find_rule_files([missing])[0] == []


def test_a_file_is_loaded_whatever_its_suffix(tmp_path: Path) -> None:
    f = tmp_path / "rules.conf"
    f.write_text(VALID_RULE.format(name="one"))
    assert load_rules([f]).names() == ["one"]


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"rules: []\n# caf\xe9\n")
    errors = load_errors([f])
    assert len(errors) == 1
    assert errors[0].startswith(f"{f}:1: rule file is not UTF-8 text")


def _mutate(value: object, rng: random.Random) -> object:
    """Replace one random leaf or key of `value` with something of the wrong shape."""
    junk: list[object] = [None, 0, -1, 1.5, True, "", "x", "15q", [], {}, ["a"], {"k": "v"}, "{{ x }}"]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        if rng.random() < 0.15:
            value = {**value, f"{key}x": value[key]}
        elif rng.random() < 0.15:
            value = {k: v for k, v in value.items() if k != key}
        else:
            value = {**value, key: _mutate(value[key], rng)}
        return value
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        return [*value[:i], _mutate(value[i], rng), *value[i + 1 :]]
    return rng.choice(junk)


def test_mutated_files_never_raise_anything_but_rule_load_error(tmp_path: Path) -> None:
    base = yaml.safe_load((TESTDATA / "full.yaml").read_text())
    rng = random.Random(1234)
    outcomes = {"loaded": 0, "rejected": 0}
    for i in range(400):
        data = base
        for _ in range(rng.randint(1, 3)):
            data = _mutate(data, rng)
        f = tmp_path / f"m{i}.yaml"
        f.write_text(yaml.safe_dump(data))
        try:
            load_rules([f])
            outcomes["loaded"] += 1
        except RuleLoadError as e:
            outcomes["rejected"] += 1
            unplaced = [str(err) for err in e.errors if not str(err).startswith(f"{f}:")]
        else:
            unplaced = []
        assert not unplaced
    assert outcomes["rejected"] > 100


# -- hostile rule directories: never block, never blow up ------------------------------------------


def test_a_fifo_in_the_rules_directory_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """A FIFO named like a rule file once blocked the reload thread forever (nobody ever writes to it)."""
    (tmp_path / "a.yaml").write_text(VALID_RULE.format(name="one"))
    os.mkfifo(tmp_path / "pipe.yaml")
    started = time.monotonic()
    with pytest.raises(RuleLoadError) as e:
        load_rules([tmp_path])
    assert time.monotonic() - started < 2
    assert [str(err) for err in e.value.errors] == [
        f"{tmp_path / 'pipe.yaml'}:1: not a regular file (a FIFO): rule files must be regular files"
    ]
    with pytest.raises(RuleLoadError, match="a FIFO"):
        load_rules([tmp_path / "pipe.yaml"])  # named directly, too


def test_special_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "null.yaml").symlink_to("/dev/null")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(RuleLoadError) as e:
        load_rules([tmp_path / "null.yaml"])
    assert "a character device" in str(e.value)


def test_a_file_symlink_loop_is_an_error_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    (tmp_path / "self.yaml").symlink_to(tmp_path / "self.yaml")
    with pytest.raises(RuleLoadError) as e:
        load_rules([tmp_path])
    assert sorted(str(err) for err in e.value.errors) == sorted(
        f"{tmp_path / name}:1: cannot read rule file: a symlink loop"
        for name in ("a.yaml", "b.yaml", "self.yaml")
    )
    with pytest.raises(RuleLoadError, match="symlink loop"):
        load_rules([tmp_path / "self.yaml"])


def test_a_rule_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    one = VALID_RULE.format(name="r0")
    big.write_text(one + "#" * (MAX_RULE_FILE_BYTES - len(one) + 1) + "\n")
    with pytest.raises(RuleLoadError) as e:
        load_rules([big])
    assert str(e.value) == (
        f"{big}:1: rule file too large: {big.stat().st_size} bytes (at most {MAX_RULE_FILE_BYTES})"
    )


def test_a_rule_set_over_the_rule_count_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "MAX_RULES", 5)
    for f in range(3):
        body = "".join(VALID_RULE.format(name=f"r{f}-{i}").removeprefix("rules:\n") for i in range(2))
        (tmp_path / f"{f}.yaml").write_text("rules:\n" + body)
    with pytest.raises(RuleLoadError) as e:
        load_rules([tmp_path])
    assert (
        str(e.value)
        == f"{tmp_path / '2.yaml'}:1: too many rules: more than 5 in the rule set (this file passes it)"
    )
