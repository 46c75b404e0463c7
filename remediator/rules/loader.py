"""Load rule files into a `RuleSet`, or fail with every problem at once, each as `path:line: msg`.

Called by the app at start-up and on reload, and by `remediator check`. A directory means
every `*.yaml`/`*.yml` under it, recursively, in sorted order; names starting with `.` are
skipped, which is what makes a mounted ConfigMap load once (its files are also visible
under the hidden `..data` and `..<timestamp>` directories).

Positions: the YAML is composed (SafeLoader) into nodes that keep their marks, then
constructed into plain data for pydantic. A pydantic error location such as
`('actions', 0, 'scale', 'max')` is walked down the node tree of its rule to the line of that
key (or of its nearest existing parent, for a missing key). Errors are collected across all
files and raised together as `RuleLoadError`; bad input never produces a traceback. Warnings
(a regex Alertmanager may answer differently for) do not stop loading: they ride on the
`RuleSet` for `remediator check` and the start-up log.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from remediator.errors import RuleError, RuleLoadError
from remediator.model import ACTION_KINDS
from remediator.rules.compiled import Rule, compile_rule
from remediator.rules.index import RuleSet, RuleWarning
from remediator.rules.matchers import parse_matchers
from remediator.rules.positions import Loc, at, describe, dotted, kind_of, line_of, parse_yaml
from remediator.rules.schema import FOLLOW_UP_KINDS, RuleModel, cross_checks

RULE_FILE_SUFFIXES = (".yaml", ".yml")


def load_rules(paths: Sequence[Path | str]) -> RuleSet:
    """Load every rule file in `paths` (files, or directories searched recursively).

    Raises RuleLoadError listing every error in every file; an empty directory gives an
    empty RuleSet.
    """
    files, errors = find_rule_files(paths)
    loaded = _Loading()
    loaded.errors.extend(errors)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            loaded.errors.append(RuleError(path, 1, f"cannot read rule file: {e.strerror or e}"))
            continue
        except UnicodeDecodeError as e:
            loaded.errors.append(RuleError(path, 1, f"rule file is not UTF-8 text: {e.reason}"))
            continue
        loaded.add_file(path, text)
    return loaded.result(files)


def load_rules_text(text: str, path: Path | str = "<rules>") -> RuleSet:
    """Load rules from a string (tests, `remediator test`); errors name `path`."""
    loaded = _Loading()
    loaded.add_file(Path(path), text)
    return loaded.result([Path(path)])


def find_rule_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[RuleError]]:
    """The rule files named by `paths`, in load order, without duplicates; missing paths are errors."""
    files: list[Path] = []
    errors: list[RuleError] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = _walk(path)
        elif path.is_file():
            found = [path]
        else:
            errors.append(RuleError(path, 1, "no such rule file or directory"))
            continue
        for f in found:
            real = f.resolve()
            if real not in seen:
                seen.add(real)
                files.append(f)
    return files, errors


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    visited: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:  # a symlink loop
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(
            Path(dirpath) / name
            for name in filenames
            if not name.startswith(".") and name.endswith(RULE_FILE_SUFFIXES)
        )
    return sorted(found, key=lambda p: p.relative_to(root).parts)


@dataclass
class _Loading:
    """Accumulates rules and errors across files; duplicate names are checked across all of them."""

    rules: list[Rule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    warnings: list[RuleWarning] = field(default_factory=list)
    first_defined: dict[str, tuple[Path, int]] = field(default_factory=dict)

    def result(self, files: Sequence[Path]) -> RuleSet:
        if self.errors:
            raise RuleLoadError(self.errors)
        return RuleSet(self.rules, files=files, warnings=self.warnings)

    def add_file(self, path: Path, text: str) -> None:
        file_errors: list[RuleError] = []
        parsed = parse_yaml(
            path,
            text,
            file_errors,
            error=RuleError,
            stop_at_duplicates=False,
            empty="empty rule file: expected a mapping with a 'rules:' list",
        )
        if parsed is not None:
            root, data = parsed
            self._add_rules(path, root, data, file_errors)
        self.errors.extend(sorted(file_errors, key=lambda e: e.line))

    def _add_rules(self, path: Path, root: yaml.Node, data: Any, errors: list[RuleError]) -> None:
        def err(loc: Loc, msg: str) -> None:
            errors.append(RuleError(path, line_of(root, loc), msg))

        if not isinstance(data, dict):
            err((), f"a rule file is a mapping with a 'rules:' list, not {kind_of(data)}")
            return
        for key in data:
            if key != "rules":
                err((key,), f"unknown top-level key {key!r} (a rule file only has 'rules:')")
        if "rules" not in data:
            err((), "missing the 'rules:' list")
            return
        items = data["rules"]
        if items is None:
            return  # `rules:` with nothing under it: a file with no rules yet
        if not isinstance(items, list):
            err(("rules",), f"'rules' must be a list of rules, not {kind_of(items)}")
            return
        for i, item in enumerate(items):
            at: Loc = ("rules", i)
            if not isinstance(item, dict):
                err(at, f"rules[{i}]: a rule is a mapping, not {kind_of(item)}")
                continue
            name = item.get("name")
            prefix = f"rule {name!r}: " if isinstance(name, str) else f"rules[{i}]: "
            if isinstance(name, str):
                self._check_unique(name, path, line_of(root, (*at, "name")), errors)
            try:
                model = RuleModel.model_validate(item)
            except ValidationError as e:
                for detail in e.errors():
                    loc, msg = _describe(detail)
                    err((*at, *loc), prefix + msg)
                continue
            problems = cross_checks(model)
            for loc, msg in problems:
                err((*at, *loc), prefix + f"{dotted(loc)}: {msg}")
            if not problems:
                self.rules.append(compile_rule(model, source_path=path, source_line=line_of(root, at)))
                for j, text in enumerate(model.match):
                    for m in parse_matchers(text) if "\\p" in text or "\\P" in text else ():
                        line = line_of(root, (*at, "match", j))
                        self.warnings.extend(
                            RuleWarning(path=path, line=line, msg=f"{prefix}{m}: {n}") for n in m.notes
                        )

    def _check_unique(self, name: str, path: Path, line: int, errors: list[RuleError]) -> None:
        first = self.first_defined.get(name)
        if first is None:
            self.first_defined[name] = (path, line)
            return
        errors.append(
            RuleError(
                path, line, f"rule {name!r}: duplicate rule name, first defined at {first[0]}:{first[1]}"
            )
        )


def _describe(err: ErrorDetails) -> tuple[Loc, str]:
    """A pydantic error within one rule; unknown action and step kinds list what exists."""
    loc: Loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden" and len(loc) == 3:
        parent, key = loc[:-1], loc[-1]
        if parent[0] == "actions":
            return loc, at(parent, f"unknown action {key!r} (expected one of: {', '.join(ACTION_KINDS)})")
        if parent[0] == "on_failure":
            return loc, at(
                parent, f"unknown on_failure step {key!r} (expected one of: {', '.join(FOLLOW_UP_KINDS)})"
            )
    return describe(err, RuleModel)
