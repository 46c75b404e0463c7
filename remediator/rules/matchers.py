"""Alertmanager label matchers: `name = "value"`, `!=`, `=~`, `!~`, and the `{a="x", b=~"y"}` list form.

Rules select alerts with the same syntax SREs already write in Alertmanager routes and
silences, and with the same semantics, so a matcher copied from `alertmanager.yml` selects
the same alerts here:

* the UTF-8 matcher grammar (Alertmanager >= 0.27): a name or value is either an unquoted
  literal without reserved characters (whitespace and ``{ } ! = ~ , \\ " ' ` ``) or a
  double-quoted string with Go escaping (`"\\\\d+"`, `"\\n"`, `"\\xf0\\x9f\\x99\\x82"`);
  an empty value must be written `""`;
* regexes are RE2, compiled by `regex.compile_anchored` as Alertmanager compiles them: anchored
  (`=~ "warn"` is `^(?:warn)$` and does not match `warning`), Unicode-aware, linear in time;
* a missing label equals the empty string: `foo=""` matches an alert without `foo` and
  `foo!=""` requires it;
* a list of matchers is an AND.

`RuleIndex` (index.py) uses `Matcher.index_values()` to file a rule under a label value it
requires, so lookups cost the same for 10 or 10,000 rules.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from remediator.rules.regex import Regex, RegexError, compile_anchored

_RESERVED = frozenset("{}!=~,\\\"'`")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
# A regex that is only literal alternatives (`A|B|C`) selects exactly those values, so the
# index can file the rule under each of them. Anything else (`.`, classes, groups) is scanned.
_LITERAL_ALTERNATIVE = re.compile(r"[A-Za-z0-9_:/ -]+")


class MatchOp(enum.StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NOT_RE = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher. Construct directly or with `parse_matcher`; a bad regex raises ValueError."""

    name: str
    op: MatchOp
    value: str
    pattern: Regex | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("matcher has an empty label name")
        if self.op in (MatchOp.RE, MatchOp.NOT_RE):
            try:
                compiled = compile_anchored(self.value)
            except RegexError as e:
                raise ValueError(f"invalid regex {self.value!r} for label {self.name!r}: {e}") from None
            object.__setattr__(self, "pattern", compiled)

    @property
    def notes(self) -> tuple[str, ...]:
        """Where Alertmanager may answer differently for this matcher (`remediator check` warns)."""
        return self.pattern.notes if self.pattern is not None else ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when `labels` satisfies this matcher; a missing label counts as ""."""
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.matches(actual)
        return found if self.op is MatchOp.RE else not found

    def index_values(self) -> tuple[str, ...] | None:
        """The only non-empty values this matcher accepts, or None when it is not that selective.

        `alertname="X"` -> ("X",); `alertname=~"A|B"` -> ("A", "B"). `foo=""`, `!=`, `!~` and real
        regexes give None: they accept alerts whose label value cannot be enumerated.
        """
        if self.op is MatchOp.EQ:
            return (self.value,) if self.value else None
        if self.op is MatchOp.RE:
            parts = self.value.split("|")
            if all(_LITERAL_ALTERNATIVE.fullmatch(p) for p in parts):
                return tuple(dict.fromkeys(parts))
        return None

    def __str__(self) -> str:
        """Alertmanager's `Matcher.String()`: parseable again, and the same text Alertmanager prints."""
        if any(c in _RESERVED or c.isspace() for c in self.name):
            return f"{go_quote(self.name)}{self.op.value}{go_quote(self.value)}"
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op.value}"{escaped}"'


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Every matcher in `text`: comma-separated, braces optional, one trailing comma allowed.

    `""` and `"{}"` give no matchers. Raises ValueError naming the text and the column.
    """
    return _Parser(text).parse()


def parse_matcher(text: str) -> Matcher:
    """Exactly one matcher (`severity=critical`, `{foo=~"a|b"}`). Raises ValueError otherwise."""
    found = parse_matchers(text)
    if len(found) != 1:
        what = "no matcher" if not found else f"{len(found)} matchers"
        raise ValueError(f"matcher {text!r}: expected one matcher, found {what}")
    return found[0]


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """Go's `strconv.Quote`: printable characters as they are, the rest escaped."""
    out = ['"']
    for c in s:
        if c in ('"', "\\"):
            out.append("\\" + c)
        elif c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "{", "}", ",", "op", "literal"
    text: str  # the source text of the token
    value: str  # unquoted value for literals, the operator for "op"
    column: int  # 1-based


class _Parser:
    """A small hand-written lexer + parser; the grammar is too small to need more."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._lex()
        self.pos = 0

    def _error(self, msg: str, column: int | None = None) -> ValueError:
        where = f"column {column}: " if column is not None else ""
        return ValueError(f"matcher {self.text!r}: {where}{msg}")

    def _lex(self) -> list[_Token]:
        text, i, tokens = self.text, 0, []
        while i < len(text):
            c = text[i]
            col = i + 1
            if c.isspace():
                i += 1
            elif c in "{},":
                tokens.append(_Token(c, c, c, col))
                i += 1
            elif text.startswith(("=~", "!=", "!~"), i):
                tokens.append(_Token("op", text[i : i + 2], text[i : i + 2], col))
                i += 2
            elif c == "=":
                tokens.append(_Token("op", c, c, col))
                i += 1
            elif c == '"':
                end = i + 1
                while end < len(text) and text[end] != '"':
                    end += 2 if text[end] == "\\" else 1
                if end >= len(text):
                    raise self._error("unterminated quoted string", col)
                raw = text[i : end + 1]
                try:
                    value = go_unquote(raw[1:-1])
                except ValueError as e:
                    raise self._error(f"{raw}: {e}", col) from None
                tokens.append(_Token("literal", raw, value, col))
                i = end + 1
            elif c in _RESERVED:
                hint = " (quote values that contain it)" if c != "!" else ""
                raise self._error(f"unexpected {c!r}{hint}", col)
            else:
                end = i
                while end < len(text) and not (text[end] in _RESERVED or text[end].isspace()):
                    end += 1
                tokens.append(_Token("literal", text[i:end], text[i:end], col))
                i = end
        return tokens

    def _next(self) -> _Token | None:
        tok = self.tokens[self.pos] if self.pos < len(self.tokens) else None
        self.pos += 1
        return tok

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _expect(self, kind: str, what: str) -> _Token:
        tok = self._next()
        if tok is None:
            raise self._error(f"end of input: expected {what}")
        if tok.kind != kind:
            raise self._error(f"unexpected {tok.text!r}: expected {what}", tok.column)
        return tok

    def parse(self) -> tuple[Matcher, ...]:
        first = self._peek()
        braced = first is not None and first.kind == "{"
        if braced:
            self._next()
        found: list[Matcher] = []
        while True:
            tok = self._peek()
            if tok is None or tok.kind == "}":
                break
            found.append(self._matcher())
            sep = self._peek()
            if sep is None or sep.kind == "}":
                break
            if sep.kind != ",":
                raise self._error(f"unexpected {sep.text!r}: expected a comma or close brace", sep.column)
            self._next()
        tok = self._next()
        if braced and (tok is None or tok.kind != "}"):
            raise self._error("end of input: expected close brace")
        if not braced and tok is not None:
            raise self._error(f"unexpected {tok.text!r}: no opening brace", tok.column)
        extra = self._next()
        if extra is not None:
            raise self._error(f"unexpected {extra.text!r} after close brace", extra.column)
        return tuple(found)

    def _matcher(self) -> Matcher:
        name = self._expect("literal", "label name")
        op = self._expect("op", "an operator such as '=', '!=', '=~' or '!~'")
        value = self._expect("literal", 'a label value (write "" for an empty one)')
        try:
            return Matcher(name.value, MatchOp(op.value), value.value)
        except ValueError as e:
            raise self._error(str(e), value.column) from None


def go_unquote(body: str) -> str:
    """Decode the inside of a Go double-quoted string (strconv.Unquote), as Alertmanager does.

    Escapes build bytes (`\\xf0\\x9f\\x99\\x82` is one emoji), so the result must be valid UTF-8.
    """
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\n":
            raise ValueError("newline in quoted string")
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("string ends with a lone backslash")
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[e].encode()
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"invalid escape \\{e}{digits}")
            code = int(digits, 16)
            if e == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError(f"invalid code point \\{e}{digits}")
            else:
                out += chr(code).encode()
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError(f"invalid octal escape \\{digits}")
            out.append(int(digits, 8))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e} (write \\\\{e} for a literal backslash)")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("escapes do not form valid UTF-8") from None
