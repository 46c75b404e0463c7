"""Alertmanager's own matcher tests, run against remediator's matcher parser and semantics.

testdata/alertmanager-matchers.json holds the test tables of github.com/prometheus/alertmanager
(the commit is in the file), extracted from the Go source by testdata/go/extract (go/ast, and
strconv.Unquote for every string, so the values are the ones Go uses):

* matcher/parse/parse_test.go: the UTF-8 matcher parser (Alertmanager >= 0.27), which is the
  grammar remediator implements: every row must give the same matchers, or an error;
* matcher/compliance/compliance_test.go: inputs the UTF-8 and classic parsers agree on (rows
  Alertmanager itself skips there are where they disagree, answered by the classic parser);
* matcher/compat/parse_test.go: the fallback layer (UTF-8 first, classic on failure);
* pkg/labels/parse_test.go: the classic parser, a looser grammar remediator does not accept:
  an input both accept must give the same matchers;
* pkg/labels/matcher_test.go: matching (anchoring, `.` and newlines) and `String()`;
* api/v2/api_test.go TestMatchFilterLabels: a missing label is the empty string.
"""

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from remediator.rules.matchers import Matcher, MatchOp, parse_matcher, parse_matchers

TABLE = json.loads((Path(__file__).parent / "testdata" / "alertmanager-matchers.json").read_text())
ROWS: list[dict[str, Any]] = TABLE["rows"]


def rows(*kinds: str) -> list[Any]:
    """Rows of these kinds, without the ones Alertmanager's compliance test skips (there the
    classic parser answers, where the UTF-8 parser disagrees)."""
    return [
        pytest.param(r, id=f"{r['source']}: {r.get('name') or r.get('input')!r}")
        for r in ROWS
        if r["kind"] in kinds and not r.get("skip")
    ]


def triples(matchers: list[dict[str, str]] | dict[str, str] | None) -> list[tuple[str, str, str]]:
    if matchers is None:
        return []
    if isinstance(matchers, dict):
        matchers = [matchers]
    return [(m["name"], m["op"], m["value"]) for m in matchers]


def parsed(found: tuple[Matcher, ...]) -> list[tuple[str, str, str]]:
    return [(m.name, m.op.value, m.value) for m in found]


def test_the_table_names_its_source() -> None:
    assert TABLE["source"] == "https://github.com/prometheus/alertmanager"
    assert len(TABLE["commit"]) == 40
    assert len(ROWS) == 238
    assert sum(1 for r in ROWS if r.get("skip")) == 19


@pytest.mark.parametrize("row", rows("utf8_matchers", "compliance", "fallback_matchers"))
def test_matcher_lists_parse_as_alertmanager_parses_them(row: dict[str, Any]) -> None:
    expected = row.get("expected", row.get("want"))
    error = row.get("error") or row.get("err")
    if "but not matchers/parse" in row.get("name", "") or "disagreement" in row.get("name", ""):
        # the fallback layer answered with the classic parser, because the UTF-8 parser refused
        # or read it differently: the UTF-8 parser (remediator's) must not give the classic answer
        with contextlib.suppress(ValueError):
            assert parsed(parse_matchers(row["input"])) != triples(expected)
        return
    if error:
        with pytest.raises(ValueError):
            parse_matchers(row["input"])
    else:
        assert parsed(parse_matchers(row["input"])) == triples(expected)


@pytest.mark.parametrize("row", rows("utf8_matcher", "fallback_matcher"))
def test_single_matchers_parse_as_alertmanager_parses_them(row: dict[str, Any]) -> None:
    if "but not matchers/parse" in row["name"] or "disagreement" in row["name"]:
        with contextlib.suppress(ValueError):
            assert parsed((parse_matcher(row["input"]),)) != triples(row["expected"])
        return
    text = row.get("input", "")
    if row.get("error") or row.get("err"):
        with pytest.raises(ValueError):
            parse_matcher(text)
    else:
        assert parsed((parse_matcher(text),)) == triples(row["expected"])


def test_the_classic_parser_agrees_wherever_both_accept() -> None:
    """The classic grammar is looser (`{foo=bar}}`, unquoted `\\n`); where remediator's UTF-8
    parser accepts the same input, it must read the same matchers."""
    compared = 0
    for row in ROWS:
        if row["kind"] != "classic_matchers" or row.get("err"):
            continue
        try:
            ours = parse_matchers(row["input"])
        except ValueError:
            continue
        assert parsed(ours) == triples(row["want"]), row["source"]
        compared += 1
    assert compared == 22


@pytest.mark.parametrize("row", rows("matches"))
def test_matching_as_pkg_labels(row: dict[str, Any]) -> None:
    m = row["matcher"]
    matcher = Matcher("foo", MatchOp(m["op"]), m["value"])
    assert matcher.matches({"foo": row["value"]}) is row["match"]


@pytest.mark.parametrize("row", rows("filter_labels"))
def test_missing_labels_as_the_api_filters(row: dict[str, Any]) -> None:
    matcher = Matcher(row["name"], MatchOp(row["op"]), row["value"])
    assert matcher.matches({"foo": "bar"}) is row["expected"]


@pytest.mark.parametrize("row", rows("string"))
def test_string_form_as_alertmanager_prints_it(row: dict[str, Any]) -> None:
    matcher = Matcher(row["name"], MatchOp(row["op"]), row["value"])
    assert str(matcher) == row["want"]
    assert parse_matcher(str(matcher)) == matcher
