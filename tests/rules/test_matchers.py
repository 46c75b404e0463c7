import pytest

from remediator.rules.matchers import Matcher, MatchOp, go_unquote, parse_matcher, parse_matchers


def m(text: str) -> Matcher:
    return parse_matcher(text)


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('alertname = "HighErrorRate"', "alertname", MatchOp.EQ, "HighErrorRate"),
        ("severity=critical", "severity", MatchOp.EQ, "critical"),
        ('namespace =~ "prod-.*"', "namespace", MatchOp.RE, "prod-.*"),
        ("namespace=~prod-.*", "namespace", MatchOp.RE, "prod-.*"),
        ('team != "payments"', "team", MatchOp.NE, "payments"),
        ('code !~ "4.."', "code", MatchOp.NOT_RE, "4.."),
        ('foo=""', "foo", MatchOp.EQ, ""),
        ('"quoted name"="x"', "quoted name", MatchOp.EQ, "x"),
        ("{foo=bar}", "foo", MatchOp.EQ, "bar"),
        ("foo=bar,", "foo", MatchOp.EQ, "bar"),
        ("foo=🙂bar", "foo", MatchOp.EQ, "🙂bar"),
    ],
)
def test_parses_one_matcher(text: str, name: str, op: MatchOp, value: str) -> None:
    assert m(text) == Matcher(name, op, value)


@pytest.mark.parametrize(
    ("quoted", "value"),
    [
        (r'"\\d+"', "\\d+"),
        (r'"a\"b"', 'a"b'),
        (r'"tab\there"', "tab\there"),
        (r'"\xf0\x9f\x99\x82"', "🙂"),
        (r'"\U0001f642"', "🙂"),
        (r'"\u00e9"', "é"),
        (r'"\101"', "A"),
        ('"a,b {c}"', "a,b {c}"),
    ],
)
def test_quoted_values_use_go_escaping(quoted: str, value: str) -> None:
    assert m(f"foo={quoted}").value == value


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (r"\d", "unknown escape"),
        ("\\", "lone backslash"),
        (r"\xf0\x9f", "UTF-8"),
        (r"\x4", "invalid escape"),
        (r"\ud800", "invalid code point"),
        (r"\400", "octal"),
    ],
)
def test_go_unquote_rejects_bad_escapes(body: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        go_unquote(body)


def test_brace_list_with_trailing_comma() -> None:
    assert parse_matchers('{a="x", b=~"y|z",}') == (
        Matcher("a", MatchOp.EQ, "x"),
        Matcher("b", MatchOp.RE, "y|z"),
    )


@pytest.mark.parametrize("text", ["", "{}", "  { }  "])
def test_empty_lists_have_no_matchers(text: str) -> None:
    assert parse_matchers(text) == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("foo=", "expected a label value"),
        ("foo", "expected an operator"),
        ("=x", "expected label name"),
        ("foo=bar}", "no opening brace"),
        ("{foo=bar", "expected close brace"),
        ("{foo=bar}x", "after close brace"),
        ("a=b c=d", "expected a comma or close brace"),
        ("foo=a!b", "unexpected '!'"),
        ('foo="unterminated', "unterminated quoted string"),
        ("foo=bar,,", "expected label name"),
        (",", "expected label name"),
        ('foo=~"[a-"', "invalid regex '\\[a-' for label 'foo'"),
        ('foo="\\d"', "unknown escape"),
        ("foo = bar baz", "expected a comma"),
    ],
)
def test_syntax_errors_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as e:
        parse_matchers(text)
    assert repr(text) in str(e.value)


def test_single_matcher_requires_exactly_one() -> None:
    with pytest.raises(ValueError, match="expected one matcher, found 2 matchers"):
        parse_matcher("a=b,c=d")
    with pytest.raises(ValueError, match="found no matcher"):
        parse_matcher("{}")


def test_bad_regex_in_constructor() -> None:
    with pytest.raises(ValueError, match="invalid regex"):
        Matcher("foo", MatchOp.RE, "(")


def test_regexes_are_fully_anchored() -> None:
    warn = m('severity=~"warn"')
    assert warn.matches({"severity": "warn"})
    assert not warn.matches({"severity": "warning"})
    assert not warn.matches({"severity": "prewarn"})
    assert not warn.matches({"severity": "warn\n"})  # Python's `$` would allow this; Go's does not
    alternation = m('severity=~"warn|crit"')
    assert alternation.matches({"severity": "crit"})
    assert not alternation.matches({"severity": "critical"})  # anchoring wraps the whole alternation
    assert m('severity!~"warn"').matches({"severity": "warning"})


def test_leading_case_insensitive_flag_works_like_go() -> None:
    sev = m('severity=~"(?i)warn"')
    assert sev.matches({"severity": "WARN"})
    assert not sev.matches({"severity": "WARNING"})


def test_regex_digit_class_is_ascii_like_go() -> None:
    assert not m(r'code=~"\\d+"').matches({"code": "٤٠٣"})  # Arabic-Indic digits
    assert m(r'code=~"\\d+"').matches({"code": "403"})


def test_missing_label_equals_empty_string() -> None:
    assert m('foo=""').matches({})
    assert m('foo=""').matches({"foo": ""})
    assert not m('foo=""').matches({"foo": "x"})
    assert not m('foo!=""').matches({})
    assert m('foo!=""').matches({"foo": "x"})
    assert m('foo=~".*"').matches({})
    assert not m('foo=~".+"').matches({})
    assert m('foo!~".+"').matches({})
    assert m("foo!=bar").matches({})
    assert not m("foo=bar").matches({})


def test_str_round_trips() -> None:
    for text in ['a="x"', 'b=~"y|z"', 'c!="with \\"quote\\""', '"odd name"!~"\\\\d+"', 'e=""']:
        assert str(parse_matcher(text)) == text
        assert parse_matcher(str(parse_matcher(text))) == parse_matcher(text)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ('alertname="A"', ("A",)),
        ('alertname=~"A|B|A"', ("A", "B")),
        ('alertname=~"A.*"', None),
        ('alertname=~"(A|B)"', None),
        ('alertname=""', None),
        ('alertname!="A"', None),
        ('alertname!~"A"', None),
        ('alertname=~"A|"', None),  # the empty alternative also accepts a missing label
    ],
)
def test_index_values(text: str, values: tuple[str, ...] | None) -> None:
    assert m(text).index_values() == values
