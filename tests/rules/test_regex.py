"""Rule regexes behave as in Alertmanager: RE2 syntax and semantics, linear time, Go's differences said.

testdata/re2-vs-go.json holds Go's own answers (testdata/go/oracle: `regexp.Compile("^(?:" + v +
")$")` and `MatchString`, as Alertmanager's `labels.NewMatcher`) for every pattern and input
below; each must get the same answer here, except the differences listed in this file, each
of which remediator refuses or notes with a message naming Go.
"""

import json
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from remediator.rules.matchers import Matcher, MatchOp, parse_matcher
from remediator.rules.regex import MAX_GROUP_DEPTH, RegexError, compile_anchored

ORACLE = json.loads((Path(__file__).parent / "testdata" / "re2-vs-go.json").read_text())

# The oracle ran Go 1.19 (Debian 12's). Alertmanager builds with a newer Go (1.25 for the commit
# in alertmanager-matchers.json), which accepts these: Unicode 15.0 scripts (Go >= 1.21) and
# `(?<name>` groups (Go >= 1.22). RE2 accepts them too.
NEWER_GO_ACCEPTS = {r"\p{Vithkuqi}", r"\p{Kawi}", "(?<n>a)"}
# Go accepts these, RE2 refuses them as larger than its program budget: refused, saying so.
TOO_LARGE_FOR_RE2 = {r"\pL{1000}", r"(?i)\pL{500}", r"[\pL\pN]{1000}"}
# Characters Unicode 15.1 added (RE2's tables), unassigned in Go's (15.0, or 13.0 in Go 1.19).
UNICODE_15_1 = {chr(c) for c in [*range(0x2EBF0, 0x2EE5E), *range(0x2FFC, 0x3000), 0x31EF]}


def cases() -> list[Any]:
    return [pytest.param(c, id=repr(c["pattern"][:40])) for c in ORACLE["cases"]]


def test_the_oracle_is_go() -> None:
    assert ORACLE["oracle"].startswith("Go go1.")
    assert len(ORACLE["cases"]) > 150


@pytest.mark.parametrize("case", cases())
def test_answers_as_go_regexp(case: dict[str, Any]) -> None:
    pattern = case["pattern"]
    if pattern in TOO_LARGE_FOR_RE2:
        assert case["go_error"] is None
        with pytest.raises(RegexError, match=r"too large for RE2.*Go's regexp, as in Alertmanager"):
            compile_anchored(pattern)
        return
    if case["go_error"] is not None and pattern not in NEWER_GO_ACCEPTS:
        with pytest.raises(RegexError):
            compile_anchored(pattern)
        return
    regex = compile_anchored(pattern)
    got = [regex.matches(s) for s in case["inputs"]]
    if case["go_matches"] is None:
        return  # only Go >= 1.21/1.22 compiles it; the acceptance is what this row checks
    for value, ours, go in zip(case["inputs"], got, case["go_matches"], strict=True):
        if ours != go:
            # only the characters Unicode 15.1 added, and the pattern carries the note that says so
            assert value in UNICODE_15_1, (pattern, value)
            assert regex.notes and "Unicode 15.1" in regex.notes[0]


# --- issue 18's cases, one by one ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("(?i)équipe", "Équipe", True),
        ("(?i)k", "\u212a", True),  # KELVIN SIGN folds to k, as in Go
        ("[[:alpha:]]+", "abc", True),  # a POSIX class, not a set of ':', 'a', 'l', ...
        ("[[:alpha:]]+", "é", False),  # POSIX classes are ASCII
        (r"\s", "\v", False),  # RE2's \s is [\t\n\f\r ]
        (r"\s", " ", True),
        (r"\d+", "٤٠٣", False),  # ASCII digits only
        (r"\pL+", "Équipe", True),
        (r"\p{Greek}+", "Σλ", True),
        (r"a\z", "a", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        ("a(?i)b", "aB", True),
        ("a(?i)b", "AB", False),
        ("(?U)a+", "aaa", True),
        ("(?i-s)a.", "A\n", False),
        ("(?is)a.", "A\n", True),
        ("foo.bar", "foo\nbar", False),  # as pkg/labels: `.` does not match a newline
        ("warn", "warning", False),
        ("a)|(b", "ab", True),  # Alertmanager anchors by wrapping, and so does remediator
    ],
)
def test_issue_cases_match_as_in_alertmanager(pattern: str, value: str, expected: bool) -> None:
    assert Matcher("x", MatchOp.RE, pattern).matches({"x": value}) is expected
    assert Matcher("x", MatchOp.NOT_RE, pattern).matches({"x": value}) is not expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?=x)x", "lookahead is not RE2 syntax"),
        ("(?<!a)b", "lookbehind is not RE2 syntax"),
        (r"(a)\1", "backreferences are not RE2 syntax"),
        ("x{1001}", "invalid repetition size: {1001} (RE2 allows counts up to 1000)"),
        (r"a\Z", r"write \z for the end of the text"),
        (r"\C", "Go's regexp, and so Alertmanager, refuses it"),
        ("(?P<é>a)", "Go's regexp (Alertmanager) allows only ASCII letters"),
        ("(" * (MAX_GROUP_DEPTH + 1) + "a" + ")" * (MAX_GROUP_DEPTH + 1), "groups nest 101 deep"),
    ],
)
def test_refused_with_the_reason(pattern: str, message: str) -> None:
    with pytest.raises(RegexError) as e:
        compile_anchored(pattern)
    assert message in str(e.value)


def test_group_depth_inside_both_limits_is_accepted() -> None:
    deep = "(" * MAX_GROUP_DEPTH + "a" + ")" * MAX_GROUP_DEPTH
    assert compile_anchored(deep).matches("a")
    # escaped and bracketed parentheses are not groups
    assert compile_anchored(r"\(" * 200 + "[(]" * 200).matches("(" * 400)
    assert compile_anchored(r"\Q(?P<é>\E").matches("(?P<é>")


def test_unicode_notes_only_for_the_classes_that_changed() -> None:
    assert compile_anchored(r"\pL+").notes
    assert compile_anchored(r"\p{Han}").notes
    assert compile_anchored(r"\p{Greek}+|\pN").notes == ()
    assert compile_anchored("(?i)équipe").notes == ()
    for c in UNICODE_15_1:
        assert unicodedata.category(c) in {"Lo", "So", "Cn"}  # Cn: this Python's tables predate 15.1


def test_a_lone_surrogate_is_read_as_go_reads_it() -> None:
    # JSON "\ud800" decodes to a lone surrogate in Python and to U+FFFD in Go
    assert compile_anchored(".").matches("\ud800")
    assert compile_anchored("\ufffd").matches("\ud800")


@pytest.mark.parametrize("length", [41, 100_000])
def test_nested_quantifiers_answer_in_milliseconds(length: int) -> None:
    """`(a+)+$` against aaaa...! takes exponential time in a backtracking engine (Python's re
    needs minutes at 41 characters); RE2 is linear in the label value. CPU time of this thread,
    so a busy machine does not make it flaky: about 0.04 ms at 41 characters, 4 ms at 100,000."""
    matcher = parse_matcher('job=~"(a+)+$"')
    labels = {"job": "a" * length + "!"}
    started = time.thread_time()
    assert not matcher.matches(labels)
    assert matcher.matches({"job": "a" * length})
    assert time.thread_time() - started < 0.05


def test_remembered_answers_are_the_answers() -> None:
    r = compile_anchored("prod-.*|staging")
    values = ["prod-a", "staging", "stagingx", "", "prod-", "dev", "x" * 300, "prod-" + "y" * 300]
    first = [r.matches(v) for v in values]
    assert first == [True, True, False, False, True, False, False, True]
    assert [r.matches(v) for v in values] == first  # answered from memory this time
    for i in range(5000):  # more values than it keeps: it forgets, never answers wrong
        assert r.matches(f"prod-{i}") and not r.matches(f"dev-{i}")
