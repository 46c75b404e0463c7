"""Templated URLs: labels reach only the path and query, percent-encoded, and never move the origin."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from remediator.model import Alert
from remediator.rules import RenderError
from remediator.rules.urls import UrlTemplate


def alert(**labels: str) -> Alert:
    return Alert(
        source="manual",
        fingerprint="f",
        status="firing",
        labels=labels,
        annotations={},
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://{{ labels.host }}/x", "only in the path and query"),
        ("https://api{{ labels.host }}.svc/x", "only in the path and query"),
        ("https://api.svc:{{ labels.port }}/x", "only in the path and query"),
        ("{{ labels.url }}", "must start with http"),
        ("file:///etc/passwd", "must start with http"),
        ("https://user:pw@api.svc/x", "credentials in the URL"),
        ("https://api.svc/x#{{ labels.f }}", "fragment"),
        ("https://api.svc/a b", "space or a control character"),
        ("https://api.svc:99999/x", "Port out of range"),
        ("https://api_svc/x", "not a valid host"),
        ("https://api.svc/{{ labels.x | lower }}", "not a plain lookup"),
    ],
)
def test_refused_at_load(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        UrlTemplate.parse(url)


def test_origin_is_literal_and_defaults_the_port() -> None:
    u = UrlTemplate.parse("https://API.shop.svc/admin/{{ labels.service }}/maintenance")
    assert (u.scheme, u.host, u.port, u.origin, u.host_port) == (
        "https",
        "api.shop.svc",
        None,
        "https://api.shop.svc",
        "api.shop.svc:443",
    )
    assert UrlTemplate.parse("http://127.0.0.1:8080/x").host_port == "127.0.0.1:8080"


def test_label_values_are_percent_encoded_as_one_segment_or_value() -> None:
    u = UrlTemplate.parse("https://api.svc/admin/{{ labels.svc }}?reason={{ labels.why }}")
    hostile = alert(svc="a/../b?c=1#frag\r\nX: y", why="x&admin=true%00")
    assert u.render(hostile) == (
        "https://api.svc/admin/a%2F..%2Fb%3Fc%3D1%23frag%0D%0AX%3A%20y?reason=x%26admin%3Dtrue%2500"
    )


@pytest.mark.parametrize("value", ["..", "."])
def test_dot_segments_are_refused(value: str) -> None:
    u = UrlTemplate.parse("https://api.svc/admin/{{ labels.svc }}/flush")
    got = u.render(alert(svc=value))
    assert isinstance(got, RenderError)
    assert "cannot be a URL path segment" in got.reason


def test_missing_label_is_a_reason_not_an_exception() -> None:
    got = UrlTemplate.parse("https://api.svc/{{ labels.svc }}").render(alert())
    assert isinstance(got, RenderError)
    assert got.reason == "label 'svc' missing"


def test_query_only_template_is_allowed() -> None:
    u = UrlTemplate.parse("http://api.svc?svc={{ labels.svc }}")
    assert u.render(alert(svc="a b")) == "http://api.svc?svc=a%20b"
