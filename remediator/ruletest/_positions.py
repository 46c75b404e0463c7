"""Positions for test-file errors: YAML nodes that keep their lines, pydantic errors as messages.

The YAML is composed into nodes (SafeLoader) before it is constructed into plain data, so a
pydantic error location such as `('tests', 0, 'alerts', 1, 'at')` can be walked down the node
tree to the line of that key. The walk and the duplicate-key check are the rule loader's, so
both file kinds point at lines the same way.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import ErrorDetails

from remediator.errors import ConfigError, RuleError
from remediator.rules.loader import _check_duplicate_keys

Loc = tuple[str | int, ...]


class RuleTestError(ConfigError):
    """One problem in a test file, as `path:line: msg`."""

    def __init__(self, path: Path | str, line: int, msg: str) -> None:
        self.path = str(path)
        self.line = line
        self.msg = msg
        super().__init__(f"{path}:{line}: {msg}")


def parse_yaml(path: Path, text: str, errors: list[ConfigError]) -> tuple[yaml.Node, Any] | None:
    """The root node and the constructed data, or None after recording why not.

    Duplicate keys are errors: YAML keeps the last one silently, and a second `expect:` in a
    test would quietly replace the first."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            errors.append(RuleTestError(path, 1, "empty test file: expected 'rule_files:' and 'tests:'"))
            return None
        before = len(errors)
        dup: list[RuleError] = []
        _check_duplicate_keys(path, root, dup)
        errors.extend(RuleTestError(path, e.line, e.msg) for e in dup)
        if len(errors) > before:
            return None
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        if e.context and e.problem and not problem.startswith("but "):
            problem = f"{problem} ({e.context})"
        elif e.context and problem.startswith("but "):
            problem = f"{e.context}, {problem}"
        errors.append(RuleTestError(path, mark.line + 1 if mark else 1, f"invalid YAML: {problem}"))
    except yaml.YAMLError as e:
        errors.append(RuleTestError(path, 1, f"invalid YAML: {e}"))
    finally:
        loader.dispose()
    return None


def describe(err: ErrorDetails, root: type[BaseModel], *, prefix: Loc = ()) -> tuple[Loc, str]:
    """A pydantic error as (location to point at, message starting with the dotted key path)."""
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "missing":
        parent = loc[:-1]
        return (*prefix, *parent), _at((*prefix, *parent), f"missing required key {loc[-1]!r}")
    if kind == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        hint = ""
        model = _model_at(root, parent)
        if model is not None and isinstance(key, str):
            close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (*prefix, *loc), _at((*prefix, *parent), f"unknown key {key!r}{hint}")
    full = (*prefix, *loc)
    if kind == "value_error":
        ctx = err.get("ctx") or {}
        return full, _at(full, str(ctx.get("error", err["msg"])))
    if kind == "too_short":
        return full, _at(full, "must not be empty")
    if kind in ("enum", "literal_error"):
        allowed = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        value = err.get("input")
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
        return full, _at(full, f"{value!r} is not a valid value ({hint})")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return full, _at(full, f"expected a mapping, not {kind_of(err['input'])}")
    if kind == "list_type":
        return full, _at(full, f"expected a list, not {kind_of(err['input'])}")
    msg = err["msg"]
    value = err.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        msg += f" (got {value!r})"
    return full, _at(full, msg)


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model validating the mapping at `loc` (for 'did you mean' hints), through lists and dicts."""
    tp: Any = root
    for step in loc:
        tp = _unwrap_optional(tp)
        if typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
            continue
        if (
            isinstance(tp, type)
            and issubclass(tp, BaseModel)
            and isinstance(step, str)
            and step in tp.model_fields
        ):
            tp = tp.model_fields[step].annotation
            continue
        return None
    tp = _unwrap_optional(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap_optional(tp: Any) -> Any:
    """`X | None` -> `X`; anything else unchanged."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _at(loc: Loc, msg: str) -> str:
    path = dotted(loc)
    return f"{path}: {msg}" if path else msg


def dotted(loc: Loc) -> str:
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        elif "/" in step or "." in step:
            out += f"[{step!r}]"
        else:
            out += f".{step}" if out else step
    return out


def kind_of(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"
