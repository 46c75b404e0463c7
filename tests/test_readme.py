"""README.md's examples run as written."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from remediator.config import Settings, ladder_problems
from remediator.rules import load_rules_text
from remediator.ruletest import run_rule_tests_async


def _block(readme: str, starting: str) -> str:
    i = readme.index("```yaml\n" + starting)
    return readme[i + len("```yaml\n") : readme.index("```", i + 8)]


async def test_readme_rule_test_example_passes(repo: Path, tmp_path: Path) -> None:
    readme = (repo / "README.md").read_text()
    (tmp_path / "rules").symlink_to(repo / "rules")
    (tmp_path / "tests").mkdir()
    example = tmp_path / "tests" / "example.yaml"
    example.write_text(_block(readme, "rule_files: [../rules/traffic.yaml]"))
    out = io.StringIO()
    assert await run_rule_tests_async([example], out=out) == 0, out.getvalue()


def test_readme_rule_examples_load(repo: Path) -> None:
    readme = (repo / "README.md").read_text()
    for start in (
        "rules:\n  - name: rollback-on-5xx-after-deploy\n    description",
        "rules:\n  - name: rollback-on-5xx-after-deploy\n    severity",
    ):
        assert len(load_rules_text(_block(readme, start))) == 1


def test_readme_ladder_config_and_rule_are_valid_together(repo: Path) -> None:
    """The ladder example is a config the daemon accepts (every page and channel named is defined),
    and the rule with its own ladder loads and names only what that config defines. (The timings the
    README's table tells are the ones tests/scenarios/test_incident_ladder.py asserts.)"""
    readme = (repo / "README.md").read_text()
    settings = Settings.model_validate(yaml.safe_load(_block(readme, "incidents:\n  escalation:")))
    assert [s.after for s in settings.incidents.escalation["P1"]] == [0, 900, 1800, 3600, 7200]
    assert settings.incidents.watch == 1800 and settings.incidents.updates.every == 1800
    [rule] = load_rules_text(_block(readme, "rules:\n  - name: restart-checkout-on-errors"))
    assert rule.escalation is not None and rule.watch_s == 1800
    assert ladder_problems(settings, rule.escalation, where=rule.name) == []
