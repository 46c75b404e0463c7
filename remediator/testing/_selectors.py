"""Label and field selectors, parsed and matched as `k8s.io/apimachinery/pkg/labels` does.

Used by the fake server for `labelSelector`/`fieldSelector` on lists and by its
controllers to match `spec.selector` objects. Blast-radius and verification code
list pods by selector, so `!=`/`notin` matching absent keys matters here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SPECIAL = " \t,()=!<>"


class SelectorError(ValueError):
    """A selector string that the real server would answer with 400."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "exists", "!", "=", "!=", "in", "notin", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            have, want = int(value), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op == ">" else have < want


def _lex(text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t":
            i += 1
        elif text.startswith(("==", "!="), i):
            tokens.append(text[i : i + 2])
            i += 2
        elif ch in ",()=!<>":
            tokens.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in _SPECIAL:
                j += 1
            tokens.append(text[i:j])
            i = j
    return tokens


_OPERATORS = (",", "(", ")", "=", "==", "!=", "!", "<", ">")


class _Parser:
    """Recursive-descent over the token list; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token

    def ident(self, expected: str) -> str:
        token = self.take()
        if token is None or token in _OPERATORS:
            found = "end of string" if token is None else repr(token)
            raise SelectorError(f"unable to parse requirement: found {found}, expected: {expected}")
        return token

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while self.peek() is not None:
            reqs.append(self.requirement())
            after = self.take()
            if after not in (None, ","):
                raise SelectorError(f"found {after!r}, expected: ',' or 'end of string'")
        return reqs

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(self.ident("identifier after '!'"), "!")
        key = self.ident("!, identifier")
        op = self.peek()
        if op is None or op == ",":
            return Requirement(key, "exists")
        self.take()
        if op in ("in", "notin"):
            return Requirement(key, op, self.value_set())
        if op in (">", "<"):
            value = self.ident("integer")
            if not value.lstrip("-").isdigit():
                raise SelectorError(f"unable to parse requirement: for 'gt', 'lt' operators, {value!r}")
            return Requirement(key, op, (value,))
        if op in ("=", "==", "!="):
            nxt = self.peek()
            value = "" if nxt is None or nxt in _OPERATORS else self.ident("value")
            return Requirement(key, "!=" if op == "!=" else "=", (value,))
        raise SelectorError(
            f"unable to parse requirement: found {op!r}, expected: '=', '!=', '==', 'in', 'notin'"
        )

    def value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise SelectorError("unable to parse requirement: expected: '('")
        values: list[str] = []
        while (token := self.peek()) != ")":
            if token == ",":
                self.take()
                continue
            values.append(self.ident("',', ')' or identifier"))
        self.take()
        return tuple(values)


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3`; raise SelectorError on bad syntax."""
    return _Parser(text).parse()


def parse_field_selector(text: str) -> list[tuple[str, str, str]]:
    """Parse `metadata.name=x,status.phase!=Running` into (path, op, value) triples."""
    out: list[tuple[str, str, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        for op in ("!=", "==", "="):
            if op in part:
                path, value = part.split(op, 1)
                out.append((path.strip(), "!=" if op == "!=" else "=", value.strip()))
                break
        else:
            raise SelectorError(f"invalid selector: {part!r}; can't understand {part!r}")
    return out


_ZERO_INTS = frozenset({"status.replicas", "status.succeeded"})
"""Integer fields Go omits when zero that field selectors still compare as "0"."""


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            cur = None
            break
        cur = cur.get(part)
    if cur is None:
        return "0" if path in _ZERO_INTS else ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def matches_fields(obj: Mapping[str, Any], fields: Sequence[tuple[str, str, str]]) -> bool:
    return all((_field_value(obj, path) == value) == (op == "=") for path, op, value in fields)


def matches_labels(labels: Mapping[str, str], reqs: Sequence[Requirement]) -> bool:
    return all(r.matches(labels) for r in reqs)


def _object_requirements(selector: Mapping[str, Any]) -> list[Requirement]:
    reqs = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""), "exists")
        reqs.append(Requirement(expr.get("key", ""), op, tuple(sorted(expr.get("values") or ()))))
    return sorted(reqs, key=lambda r: r.key)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Match a LabelSelector object; None selects nothing, `{}` everything (metav1 semantics)."""
    if selector is None:
        return False
    return matches_labels(labels, _object_requirements(selector))


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """Render a LabelSelector object as the Scale subresource's `status.selector` string."""
    parts: list[str] = []
    for r in _object_requirements(selector or {}):
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
        elif r.op == "!":
            parts.append(f"!{r.key}")
        else:
            parts.append(r.key)
    return ",".join(parts)
