"""Conditions on a health endpoint's JSON answer: `services.ideogram.connected == true`.

A dotted path (keys, `[N]` list indexes, `["odd key"]`), a comparison (`==`, `!=`, `<`, `<=`,
`>`, `>=`) and a JSON literal (`true`, `false`, `null`, a number, a double-quoted string). A bare
path means "present and truthy". Parsed once at load time; evaluating never raises: a missing
path or a type mismatch makes the condition false, with the reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["==", "!=", "<", "<=", ">", ">="]
_OPS: tuple[Op, ...] = ("==", "!=", "<=", ">=", "<", ">")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r'\["((?:[^"\\]|\\.)*)"\]')
_MAX_SHOWN = 80


@dataclass(frozen=True, slots=True)
class JsonCondition:
    source: str
    path: tuple[str | int, ...]
    op: Op | None
    """None: the path must exist and be truthy."""
    value: Any = None

    @classmethod
    def parse(cls, text: str) -> JsonCondition:
        """Parse `text`; raises ValueError saying what is wrong."""
        if len(text) > 512:
            raise ValueError("condition is longer than 512 characters")
        op, left, right = _split(text)
        path = _parse_path(left.strip(), text)
        if op is None:
            return cls(source=text, path=path, op=None)
        try:
            value = json.loads(right.strip())
        except ValueError:
            raise ValueError(
                f"condition {text!r}: {right.strip()!r} is not a JSON literal "
                '(true, false, null, a number or a "double-quoted string")'
            ) from None
        if isinstance(value, dict | list):
            raise ValueError(f"condition {text!r}: compare with a scalar, not an object or a list")
        if op in ("<", "<=", ">", ">=") and not _is_number(value):
            raise ValueError(f"condition {text!r}: {op} needs a number on the right")
        return cls(source=text, path=path, op=op, value=value)

    def evaluate(self, document: Any) -> tuple[bool, str]:
        """(holds, reason). Never raises."""
        found, actual = _lookup(document, self.path)
        where = _show_path(self.path)
        if not found:
            return False, f"{where} is missing"
        shown = _show(actual)
        if self.op is None:
            return bool(actual), f"{where} is {shown}"
        if self.op in ("==", "!="):
            equal = _same(actual, self.value)
            holds = equal if self.op == "==" else not equal
        elif not _is_number(actual):
            return False, f"{where} is {shown}, not a number"
        else:
            a, b = float(actual), float(self.value)
            holds = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[self.op]
        return holds, f"{where} is {shown} (want {self.op} {json.dumps(self.value)})"

    def __str__(self) -> str:
        return self.source


def _split(text: str) -> tuple[Op | None, str, str]:
    """Split on the first comparison operator outside a quoted key."""
    in_quotes = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            in_quotes = not in_quotes
        elif not in_quotes:
            for op in _OPS:
                if text.startswith(op, i):
                    return op, text[:i], text[i + len(op) :]
        i += 1
    return None, text, ""


def _parse_path(text: str, source: str) -> tuple[str | int, ...]:
    if not text:
        raise ValueError(f"condition {source!r}: no path (e.g. 'services.db.connected == true')")
    path: list[str | int] = []
    pos = 0
    expect_key = True
    while pos < len(text):
        if expect_key and (m := _KEY.match(text, pos)):
            path.append(m.group(0))
        elif m := _INDEX.match(text, pos):
            path.append(int(m.group(1)))
        elif m := _QUOTED.match(text, pos):
            path.append(json.loads(f'"{m.group(1)}"'))
        else:
            raise ValueError(f"condition {source!r}: cannot read the path at {text[pos:]!r}")
        pos = m.end()
        expect_key = False
        if pos < len(text) and text[pos] == ".":
            pos += 1
            expect_key = True
            if pos == len(text):
                raise ValueError(f"condition {source!r}: the path ends with '.'")
    return tuple(path)


def _lookup(document: Any, path: Sequence[str | int]) -> tuple[bool, Any]:
    node = document
    for step in path:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
            continue
        if isinstance(step, str) and isinstance(node, Mapping) and step in node:
            node = node[step]
            continue
        return False, None
    return True, node


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, `1` is `1.0`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _show(v: Any) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _show_path(path: Sequence[str | int]) -> str:
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _KEY.fullmatch(step):
            out += f".{step}" if out else step
        else:
            out += f"[{json.dumps(step)}]"
    return out
