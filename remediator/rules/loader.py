"""Load rule files into a `RuleSet`, or fail with every problem at once, each as `path:line: msg`.

Called by the app at start-up and on reload, and by `remediator check`. A directory means
every `*.yaml`/`*.yml` under it, recursively, in sorted order; names starting with `.` are
skipped, which is what makes a mounted ConfigMap load once (its files are also visible
under the hidden `..data` and `..<timestamp>` directories).

Positions: the YAML is composed (SafeLoader) into nodes that keep their marks, then
constructed into plain data for pydantic.

Rule files come from a directory anyone with access to the ConfigMap can write, so loading is bounded
and never blocks: only regular files are read (opened non-blocking, then checked with fstat, so a
FIFO, socket or device is an error instead of a reload thread stuck forever; a symlink loop is an
error, not a hang); a file is at most `MAX_RULE_FILE_BYTES`, a rule set at most `MAX_RULES` rules in
`MAX_RULE_FILES` files. Every limit is an error naming the file, never a partial load.

A pydantic error location such as
`('actions', 0, 'scale', 'max')` is walked down the node tree of its rule to the line of that
key (or of its nearest existing parent, for a missing key). Errors are collected across all
files and raised together as `RuleLoadError`; bad input never produces a traceback. Warnings
(a regex Alertmanager may answer differently for) do not stop loading: they ride on the
`RuleSet` for `remediator check` and the start-up log.
"""

from __future__ import annotations

import errno
import os
import stat
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
MAX_RULE_FILE_BYTES = 2 * 1024 * 1024
"""A hand-written rule file is a few kB; 2 MiB holds thousands of rules. A 50 MB file once took 6.8 GB
of memory to load: the limit is checked before parsing."""
MAX_RULES = 20_000
"""Twice the largest rule set benchmarked (10,000): matching stays flat, memory and /metrics stay small."""
MAX_RULE_FILES = 5_000


def load_rules(paths: Sequence[Path | str]) -> RuleSet:
    """Load every rule file in `paths` (files, or directories searched recursively).

    Raises RuleLoadError listing every error in every file; an empty directory gives an
    empty RuleSet.
    """
    files, errors = find_rule_files(paths)
    loaded = _Loading()
    loaded.errors.extend(errors)
    if len(files) > MAX_RULE_FILES:
        raise RuleLoadError(
            [
                RuleError(
                    files[MAX_RULE_FILES], 1, f"too many rule files: {len(files)} (at most {MAX_RULE_FILES})"
                )
            ]
        )
    for path in files:
        try:
            text = read_rule_file(path)
        except RuleError as e:
            loaded.errors.append(e)
            continue
        loaded.add_file(path, text)
        if len(loaded.rules) > MAX_RULES:
            loaded.errors.append(
                RuleError(
                    path, 1, f"too many rules: more than {MAX_RULES} in the rule set (this file passes it)"
                )
            )
            break
    return loaded.result(files)


def read_rule_file(path: Path, *, max_bytes: int = MAX_RULE_FILE_BYTES) -> str:
    """The text of one rule file, without ever blocking: special files, loops and oversize are RuleErrors."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RuleError(path, 1, "cannot read rule file: a symlink loop") from None
        raise RuleError(path, 1, f"cannot read rule file: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RuleError(
                path, 1, f"not a regular file ({_file_type(info.st_mode)}): rule files must be regular files"
            )
        if info.st_size > max_bytes:
            raise RuleError(path, 1, f"rule file too large: {info.st_size} bytes (at most {max_bytes})")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1024 * 1024):
            size += len(chunk)
            if size > max_bytes:  # it grew while being read
                raise RuleError(path, 1, f"rule file too large: over {max_bytes} bytes")
            chunks.append(chunk)
    except OSError as e:
        raise RuleError(path, 1, f"cannot read rule file: {e.strerror or e}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as e:
        raise RuleError(path, 1, f"rule file is not UTF-8 text: {e.reason}") from None


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


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
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError as e:
            if e.errno == errno.ELOOP:
                errors.append(RuleError(path, 1, "cannot read rule path: a symlink loop"))
            else:
                errors.append(RuleError(path, 1, "no such rule file or directory"))
            continue
        found = _walk(path) if is_dir else [path]  # a named file that is not regular: read_rule_file says so
        for f in found:
            try:
                real = f.resolve(strict=False)
            except (OSError, RuntimeError):  # a symlink loop: read_rule_file reports it
                real = f
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
                for j, action in enumerate(model.actions):
                    if action.delete_pod is not None and action.delete_pod.force == "delete":
                        self.warnings.append(
                            RuleWarning(
                                path=path,
                                line=line_of(root, (*at, "actions", j)),
                                msg=f"{prefix}actions[{j}].delete_pod.force: delete bypasses the target's "
                                "PodDisruptionBudget (without it, pods are evicted and the budget decides); "
                                "the Helm chart grants it only with actions.deletePodForce",
                            )
                        )
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
