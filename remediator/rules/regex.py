"""Regular expressions from rule files, compiled as Alertmanager compiles them: RE2.

Alertmanager and Prometheus evaluate matcher regexes with Go's `regexp` package, an
implementation of RE2. Every regex a rule holds is compiled here, by `compile_anchored`, with
Google's RE2 (the `google-re2` binding), so a matcher copied from `alertmanager.yml` selects
the same alerts:

* syntax: RE2's (https://github.com/google/re2/wiki/Syntax): `\\pL`, `\\p{Greek}`, `\\z`,
  `\\Q..\\E`, `(?U)`, `(?i-s)`, POSIX classes inside brackets; no lookaround, no backreferences,
  repetition counts up to 1000;
* time: linear in the label value, whatever the pattern: `(a+)+$` cannot stall processing;
* anchoring: `^(?:PATTERN)$`, searched like Go's `MatchString`, as `labels.NewMatcher` does;
* text: UTF-8; `(?i)` folds Unicode case (`(?i)k` matches the Kelvin sign); `\\d \\s \\w \\b` and
  POSIX classes are ASCII (`\\s` is not a vertical tab), as in Go.

Go's regexp and RE2 C++ were compared pattern by pattern (tests/rules/testdata/re2-vs-go.json,
answered by Go). Where they disagree nothing is guessed: a pattern only one of them accepts is
refused with a message saying so (`GoDifference`), and a pattern both accept but whose Unicode
tables differ gets a note (`Regex.notes`) that `remediator check` prints as a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import re2

# RE2's default program budget (8 MiB). Go's regexp has a larger one, so a pattern RE2 refuses as
# too large may be one Alertmanager accepts: the error says so.
_MAX_MEM = 8 << 20
_ANSWERS_KEPT = 4096
_ANSWER_VALUE_CHARS = 256
"""Label values remembered per regex, and the longest remembered: about a MiB at most each."""
# Go refuses expressions that nest deeper than 1000 (counting its own tree, not only groups); RE2
# C++ allows more. A rule regex nested more than this many groups deep is refused here, well inside
# Go's limit, so nothing accepted here is refused by Alertmanager for depth.
MAX_GROUP_DEPTH = 100
_GO_GROUP_NAME = re.compile(r"[A-Za-z0-9_]+")
# Unicode classes whose members changed between Unicode 15.0 (Go's tables since Go 1.21) and 15.1
# (RE2's): CJK Extension I (U+2EBF0-U+2EE5D, Lo/Han) and U+2FFC-U+2FFF, U+31EF (So/Common).
_UNICODE_15_1_CLASSES = frozenset({"L", "Lo", "Han", "S", "So", "Common"})
_UNICODE_CLASS = re.compile(r"\\[pP](?:\{\^?([A-Za-z_]+)\}|([A-Za-z]))")


class RegexError(ValueError):
    """RE2 refuses the pattern, or Go's regexp (Alertmanager) would refuse it: never loaded."""


@dataclass(frozen=True, slots=True)
class Regex:
    """One rule regex, anchored and compiled by RE2. `matches` answers as Alertmanager's matcher does."""

    pattern: str
    notes: tuple[str, ...]
    _compiled: Any
    _answers: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    """Answers already given: label values repeat (a storm is a few namespaces and services), and
    a call into RE2 costs more than the rest of matching an alert. Cleared when full."""

    def matches(self, value: str) -> bool:
        found = self._answers.get(value)
        if found is None:
            found = self._search(value)
            if len(value) <= _ANSWER_VALUE_CHARS:
                if len(self._answers) >= _ANSWERS_KEPT:
                    self._answers.clear()
                self._answers[value] = found
        return found

    def _search(self, value: str) -> bool:
        try:
            data = value.encode()
        except UnicodeEncodeError:
            # A lone surrogate (JSON "\ud800") is not UTF-8; Go's JSON decoder reads it as U+FFFD,
            # so that is what Alertmanager's matcher would see.
            data = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value).encode()
        return self._compiled.search(data) is not None


def compile_anchored(pattern: str) -> Regex:
    """Compile `pattern` as Alertmanager's `labels.NewMatcher` does: `^(?:PATTERN)$` under RE2.

    Raises RegexError with RE2's message (or the Go difference) for a pattern that cannot be used.
    """
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    try:
        compiled = re2.compile(f"^(?:{pattern})$", options)
    except re2.error as anchored_error:
        try:  # RE2's message about the pattern alone does not show the anchoring wrapper
            re2.compile(pattern, options)
        except re2.error as e:
            raise RegexError(_describe_re2_error(e)) from None
        raise RegexError(_describe_re2_error(anchored_error)) from None
    if problem := _go_refuses(pattern):
        raise RegexError(problem)
    return Regex(pattern=pattern, notes=_unicode_notes(pattern), _compiled=compiled)


def _describe_re2_error(e: Exception) -> str:
    raw = e.args[0] if e.args else b""
    msg = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if "pattern too large" in msg:
        return (
            "too large for RE2 (its compiled program exceeds RE2's 8 MiB budget; Go's regexp, as in "
            "Alertmanager, allows larger ones): use smaller repetition counts or fewer alternatives"
        )
    hints = {
        "invalid perl operator: (?=": "lookahead is not RE2 syntax",
        "invalid perl operator: (?!": "lookahead is not RE2 syntax",
        "invalid perl operator: (?<=": "lookbehind is not RE2 syntax",
        "invalid perl operator: (?<!": "lookbehind is not RE2 syntax",
        "invalid escape sequence: \\Z": "write \\z for the end of the text",
    }
    for prefix, hint in hints.items():
        if msg.startswith(prefix):
            return f"{msg} ({hint})"
    if msg.startswith("invalid escape sequence: \\") and msg[-1:].isdigit():
        return f"{msg} (backreferences are not RE2 syntax)"
    if msg.startswith("invalid repetition size"):
        return f"{msg} (RE2 allows counts up to 1000)"
    return msg


def _go_refuses(pattern: str) -> str | None:
    """Why Go's regexp would refuse a pattern RE2 C++ accepted, or None.

    Measured differences only (see the module docstring): `\\C`, group names that are not ASCII
    word characters, and nesting depth. Runs on patterns RE2 already parsed, so the scan can
    rely on their being well formed.
    """
    depth = max_depth = 0
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt == "Q":  # literal text up to \E (or the end)
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if nxt == "C":
                return "\\C (one byte) is RE2 C++ only: Go's regexp, and so Alertmanager, refuses it"
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):
                i = pattern.index(":]", i + 2) + 2
                continue
            in_class = c != "]"
            i += 1
            continue
        if c == "[":
            i += 1
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":  # a leading ] is a literal
                i += 1
            in_class = True
            continue
        if c == "(":
            depth += 1
            max_depth = max(max_depth, depth)
            for opener in ("(?P<", "(?<"):
                if pattern.startswith(opener, i):
                    name = pattern[i + len(opener) : pattern.index(">", i)]
                    if not _GO_GROUP_NAME.fullmatch(name):
                        return (
                            f"group name {name!r}: Go's regexp (Alertmanager) allows only ASCII letters, "
                            "digits and '_' in group names (RE2 C++ also allows other letters)"
                        )
        elif c == ")":
            depth -= 1
        i += 1
    if max_depth > MAX_GROUP_DEPTH:
        return (
            f"groups nest {max_depth} deep; at most {MAX_GROUP_DEPTH} here (Go's regexp refuses "
            "expressions nested about 1000 deep, RE2 C++ allows more: this keeps rules inside both)"
        )
    return None


def _unicode_notes(pattern: str) -> tuple[str, ...]:
    classes = sorted(
        {m.group(1) or m.group(2) for m in _UNICODE_CLASS.finditer(pattern)} & _UNICODE_15_1_CLASSES
    )
    if not classes:
        return ()
    listed = ", ".join(f"\\p{{{c}}}" for c in classes)
    return (
        f"{listed}: RE2 here uses Unicode 15.1 tables, Go's regexp (Alertmanager) Unicode 15.0; the 627 "
        "characters added in 15.1 (CJK Extension I, U+2EBF0-U+2EE5D, and 5 symbols) match differently",
    )
