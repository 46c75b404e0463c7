"""Positions in YAML files, and pydantic errors as messages that point at a line.

Shared by every loader of user-written YAML (rule files, rule-test files), so both point at
lines and word their errors the same way. The YAML is composed (SafeLoader) into nodes that
keep their marks, then constructed into plain data for pydantic; a pydantic error location
such as `('rules', 2, 'actions', 0, 'scale', 'max')` is walked down the node tree to the line
of that key, or of its nearest existing parent for a missing one.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]
# libyaml's loader keeps the same marks and parses ~5x faster (10,000 rules: 8 s -> 2 s).
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
E = TypeVar("E", bound=Exception)


def parse_yaml(
    path: Path,
    text: str,
    errors: list[E],
    *,
    error: Callable[[Path, int, str], E],
    empty: str,
    stop_at_duplicates: bool = True,
) -> tuple[yaml.Node, Any] | None:
    """The root node and the data, or None after recording why not (as `error(path, line, msg)`).

    Duplicate keys are errors too: YAML keeps the last of two equal keys silently, and a repeated
    `actions:` or `expect:` is always a mistake. `stop_at_duplicates=False` still returns the data,
    so the caller can report every other problem in the same pass."""
    loader: Any = None
    try:
        loader, root = _compose(text)
        if root is None:
            errors.append(error(path, 1, empty))
            return None
        duplicates = duplicate_keys(root)
        errors.extend(error(path, line, msg) for line, msg in duplicates)
        if duplicates and stop_at_duplicates:
            return None
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
        errors.append(error(path, mark.line + 1 if mark else 1, f"invalid YAML: {problem}"))
    except yaml.YAMLError as e:
        errors.append(error(path, 1, f"invalid YAML: {e}"))
    finally:
        if loader is not None:
            loader.dispose()
    return None


def _compose(text: str) -> tuple[Any, yaml.Node | None]:
    """(loader, root node) with libyaml; on a syntax error, the pure-Python parser raises it again
    in words that name the problem better ("expected ',' or ']'")."""
    try:
        loader = _Loader(text)
        return loader, loader.get_single_node()
    except yaml.YAMLError:
        if _Loader is yaml.SafeLoader:
            raise
    loader = yaml.SafeLoader(text)
    return loader, loader.get_single_node()


def duplicate_keys(root: yaml.Node) -> list[tuple[int, str]]:
    """(line, message) for every key repeated in its mapping."""
    found: list[tuple[int, str]] = []
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
                        found.append(
                            (line, f"duplicate key {key.value!r} (first at line {first_line[key.value]})")
                        )
                    else:
                        first_line[key.value] = line
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(found)


def line_of(root: yaml.Node, loc: Loc) -> int:
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


def describe(err: ErrorDetails, root: type[BaseModel], *, prefix: Loc = ()) -> tuple[Loc, str]:
    """A pydantic error as (location to point at, message starting with the dotted key path)."""
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "missing":
        parent = loc[:-1]
        return (*prefix, *parent), at((*prefix, *parent), f"missing required key {loc[-1]!r}")
    if kind == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        hint = ""
        model = model_at(root, parent)
        if model is not None and isinstance(key, str):
            close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (*prefix, *loc), at((*prefix, *parent), f"unknown key {key!r}{hint}")
    full = (*prefix, *loc)
    value = err.get("input")
    if kind == "value_error":
        ctx = err.get("ctx") or {}
        return full, at(full, str(ctx.get("error", err["msg"])))
    if kind == "too_short":
        return full, at(full, "must not be empty")
    if kind in ("enum", "literal_error"):
        allowed = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
        return full, at(full, f"{value!r} is not a valid value ({hint})")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return full, at(full, f"expected a mapping, not {kind_of(value)}")
    if kind == "list_type":
        return full, at(full, f"expected a list, not {kind_of(value)}")
    msg = err["msg"]
    if isinstance(value, str | int | float | bool) or value is None:
        msg += f" (got {value!r})"
    if kind == "string_type" and isinstance(value, bool):
        msg += "; YAML reads unquoted yes/no/on/off as booleans, so quote the text"
    return full, at(full, msg)


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model validating the mapping at `loc` (for 'did you mean' hints), through lists and dicts."""
    tp: Any = root
    for step in loc:
        tp = _unwrap(tp)
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
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """`Annotated[X, ...]` -> X, `X | None` -> X; anything else unchanged."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return tp


def at(loc: Loc, msg: str) -> str:
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
