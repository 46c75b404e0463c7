"""Load rule files into a `RuleSet`, or fail with every problem at once, each as `path:line: msg`.

Called by the app at start-up and on reload, and by `remediator check`. A directory means
every `*.yaml`/`*.yml` under it, recursively, in sorted order; names starting with `.` are
skipped, which is what makes a mounted ConfigMap load once (its files are also visible
under the hidden `..data` and `..<timestamp>` directories).

Positions: the YAML is composed (SafeLoader) into nodes that keep their marks, then
constructed into plain data for pydantic. A pydantic error location such as
`('actions', 0, 'scale', 'max')` is walked down the node tree of its rule to the line of that
key (or of its nearest existing parent, for a missing key). Errors are collected across all
files and raised together as `RuleLoadError`; bad input never produces a traceback.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from remediator.errors import RuleError, RuleLoadError
from remediator.model import ACTION_KINDS
from remediator.rules.compiled import Rule, compile_rule
from remediator.rules.index import RuleSet
from remediator.rules.schema import FOLLOW_UP_KINDS, Loc, RuleModel, cross_checks

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
    first_defined: dict[str, tuple[Path, int]] = field(default_factory=dict)

    def result(self, files: Sequence[Path]) -> RuleSet:
        if self.errors:
            raise RuleLoadError(self.errors)
        return RuleSet(self.rules, files=files)

    def add_file(self, path: Path, text: str) -> None:
        file_errors: list[RuleError] = []
        parsed = _parse_yaml(path, text, file_errors)
        if parsed is not None:
            root, data = parsed
            self._add_rules(path, root, data, file_errors)
        self.errors.extend(sorted(file_errors, key=lambda e: e.line))

    def _add_rules(self, path: Path, root: yaml.Node, data: Any, errors: list[RuleError]) -> None:
        def err(loc: Loc, msg: str) -> None:
            errors.append(RuleError(path, _line_of(root, loc), msg))

        if not isinstance(data, dict):
            err((), f"a rule file is a mapping with a 'rules:' list, not {_kind(data)}")
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
            err(("rules",), f"'rules' must be a list of rules, not {_kind(items)}")
            return
        for i, item in enumerate(items):
            at: Loc = ("rules", i)
            if not isinstance(item, dict):
                err(at, f"rules[{i}]: a rule is a mapping, not {_kind(item)}")
                continue
            name = item.get("name")
            prefix = f"rule {name!r}: " if isinstance(name, str) else f"rules[{i}]: "
            if isinstance(name, str):
                self._check_unique(name, path, _line_of(root, (*at, "name")), errors)
            try:
                model = RuleModel.model_validate(item)
            except ValidationError as e:
                for detail in e.errors():
                    loc, msg = _describe(detail)
                    err((*at, *loc), prefix + msg)
                continue
            problems = cross_checks(model)
            for loc, msg in problems:
                err((*at, *loc), prefix + f"{_dotted(loc)}: {msg}")
            if not problems:
                self.rules.append(compile_rule(model, source_path=path, source_line=_line_of(root, at)))

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


def _parse_yaml(path: Path, text: str, errors: list[RuleError]) -> tuple[yaml.Node, Any] | None:
    """The root node and the constructed data, or None after recording why not."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            errors.append(RuleError(path, 1, "empty rule file: expected a mapping with a 'rules:' list"))
            return None
        _check_duplicate_keys(path, root, errors)
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        if e.context and e.problem:
            started = e.context_mark
            at = f" at line {started.line + 1}" if started and mark and started.line != mark.line else ""
            if problem.startswith("but "):  # "expected a single document ..., but found another document"
                problem = f"{e.context}{at}, {problem}"
            else:
                problem = f"{problem} ({e.context}{at})"
        errors.append(RuleError(path, mark.line + 1 if mark else 1, f"invalid YAML: {problem}"))
    except yaml.YAMLError as e:
        errors.append(RuleError(path, 1, f"invalid YAML: {e}"))
    finally:
        loader.dispose()
    return None


def _check_duplicate_keys(path: Path, root: yaml.Node, errors: list[RuleError]) -> None:
    """YAML keeps the last of two equal keys silently; a repeated `actions:` is always a mistake."""
    stack, seen_nodes = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if key.value in first_line:
                        errors.append(
                            RuleError(
                                path,
                                line,
                                f"duplicate key {key.value!r} (first at line {first_line[key.value]})",
                            )
                        )
                    else:
                        first_line[key.value] = line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """1-based line of the node at `loc`, or of its nearest existing parent.

    A mapping step reports the key's line (a block value starts on the next line, and the key
    is what the author typed wrong); a sequence step reports the item's line.
    """
    node, line = root, root.start_mark.line
    for step in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            for key, value in reversed(node.value):  # the last of duplicate keys is the one YAML keeps
                if isinstance(key, yaml.ScalarNode) and key.value == step:
                    node, line = value, key.start_mark.line
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line
        else:
            break
    return line + 1


def _describe(err: ErrorDetails) -> tuple[Loc, str]:
    """A pydantic error as (location to point at, message starting with the key path)."""
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "missing":
        parent = loc[:-1]
        return parent, _at(parent, f"missing required key {loc[-1]!r}")
    if kind == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        if len(parent) == 2 and parent[0] == "actions":
            return loc, _at(parent, f"unknown action {key!r} (expected one of: {', '.join(ACTION_KINDS)})")
        if len(parent) == 2 and parent[0] == "on_failure":
            return loc, _at(
                parent, f"unknown on_failure step {key!r} (expected one of: {', '.join(FOLLOW_UP_KINDS)})"
            )
        return loc, _at(parent, f"unknown key {key!r}{_did_you_mean(parent, key)}")
    if kind == "value_error":
        ctx = err.get("ctx") or {}
        return loc, _at(loc, str(ctx.get("error", err["msg"])))
    if kind == "too_short":
        return loc, _at(loc, "must not be empty")
    if kind in ("model_type", "dict_type"):
        return loc, _at(loc, f"expected a mapping, not {_kind(err['input'])}")
    msg = err["msg"]
    value = err.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        msg += f" (got {value!r})"
    if kind == "string_type" and isinstance(value, bool):
        msg += "; YAML reads unquoted yes/no/on/off as booleans, so quote the text"
    return loc, _at(loc, msg)


def _at(loc: Loc, msg: str) -> str:
    path = _dotted(loc)
    return f"{path}: {msg}" if path else msg


def _dotted(loc: Loc) -> str:
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else step
    return out


def _did_you_mean(parent: Loc, key: str | int) -> str:
    model = _model_at(parent)
    if model is None or not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The schema model that validates the mapping at `loc` (for 'did you mean' hints)."""
    model: type[BaseModel] | None = RuleModel
    for step in loc:
        if isinstance(step, int):
            continue  # list items: the model was already unwrapped from list[...]
        if model is None or step not in model.model_fields:
            return None
        model = _find_model(model.model_fields[step].annotation)
    return model


def _find_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"
