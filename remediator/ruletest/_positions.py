"""Test-file errors: `path:line: msg`, positioned like rule files' (`remediator.rules.positions`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from remediator.errors import ConfigError
from remediator.rules.positions import Loc, describe, dotted, kind_of, line_of
from remediator.rules.positions import parse_yaml as _parse_yaml

__all__ = ["Loc", "RuleTestError", "describe", "dotted", "kind_of", "line_of", "parse_yaml"]


class RuleTestError(ConfigError):
    """One problem in a test file, as `path:line: msg`."""

    def __init__(self, path: Path | str, line: int, msg: str) -> None:
        self.path = str(path)
        self.line = line
        self.msg = msg
        super().__init__(f"{path}:{line}: {msg}")


def parse_yaml(path: Path, text: str, errors: list[ConfigError]) -> tuple[yaml.Node, Any] | None:
    """The root node and the data, or None after recording why not (duplicate keys stop here: a second
    `expect:` in a test would quietly replace the first)."""
    return _parse_yaml(
        path, text, errors, error=RuleTestError, empty="empty test file: expected 'rule_files:' and 'tests:'"
    )
