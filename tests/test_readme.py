"""README.md's examples run as written."""

from __future__ import annotations

import io
from pathlib import Path

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
