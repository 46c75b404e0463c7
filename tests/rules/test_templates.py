import pytest

from remediator.kubenames import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    label_selector_problem,
)
from remediator.model import Target
from remediator.rules.templates import (
    FieldRef,
    RenderError,
    TargetTemplate,
    Template,
    check_name_template,
    render_target,
)
from tests.rules import make_alert

ALERT = make_alert(
    {
        "namespace": "shop",
        "deployment": "checkout",
        "service": "image-gen",
        "empty": "",
        "bad": "Checkout_API",
    },
    {"summary": "it broke", "x": "1"},
)


def target(namespace: str, name: str) -> TargetTemplate:
    return TargetTemplate(kind="Deployment", namespace=Template.parse(namespace), name=Template.parse(name))


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("{{ labels.namespace }}", "shop"),
        ("{{labels.namespace}}", "shop"),
        ("{{ labels.service }}-worker", "image-gen-worker"),
        ("{{ annotations.summary }}!", "it broke!"),
        ("{{ labels.namespace }}/{{ labels.deployment }}", "shop/checkout"),
        ("plain text", "plain text"),
        ("", ""),
        ("a }} b", "a }} b"),  # a stray closing pair is text, as in Jinja
        ('rate(x{service="{{ labels.service }}"}[1m])', 'rate(x{service="image-gen"}[1m])'),
    ],
)
def test_renders_plain_lookups(text: str, rendered: str) -> None:
    assert Template.parse(text).render(ALERT) == rendered


def test_parse_keeps_parts() -> None:
    t = Template.parse("{{ labels.service }}-worker")
    assert t.parts == (FieldRef("labels", "service"), "-worker")
    assert t.refs == (FieldRef("labels", "service"),)
    assert not t.is_literal
    assert Template.parse("web").is_literal


@pytest.mark.parametrize(
    "text",
    [
        "{{ labels.x | lower }}",
        "{{ labels }}",
        "{{ label.x }}",
        "{{ labels.x.y }}",
        "{{ labels['x'] }}",
        "{{ __import__('os') }}",
        "{{ }}",
        "{{ labels.x-y }}",
        "{{ value }}",
    ],
)
def test_only_plain_lookups_are_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="is not a plain lookup"):
        Template.parse(text)


def test_unclosed_placeholder_is_an_error() -> None:
    with pytest.raises(ValueError, match="not closed"):
        Template.parse("{{ labels.x ")


def test_missing_or_empty_field_is_a_render_error_not_an_exception() -> None:
    assert Template.parse("{{ labels.pod }}").render(ALERT) == RenderError("label 'pod' missing")
    assert Template.parse("{{ labels.empty }}").render(ALERT) == RenderError("label 'empty' missing")
    assert Template.parse("{{ annotations.nope }}").render(ALERT) == RenderError("annotation 'nope' missing")


def test_escape_applies_to_substituted_values_only() -> None:
    t = Template.parse('x{a="{{ labels.namespace }}"}')
    assert t.render(ALERT, escape=str.upper) == 'x{a="SHOP"}'


def test_render_target() -> None:
    assert render_target(target("{{ labels.namespace }}", "{{ labels.deployment }}"), ALERT) == Target(
        kind="Deployment", namespace="shop", name="checkout"
    )
    assert target("{{ labels.namespace }}", "{{ labels.service }}-worker").render(ALERT) == Target(
        kind="Deployment", namespace="shop", name="image-gen-worker"
    )


@pytest.mark.parametrize(
    ("namespace", "name", "reason"),
    [
        ("shop", "{{ labels.bad }}", "rendered name 'Checkout_API' is not a valid Kubernetes name"),
        ("{{ labels.bad }}", "web", "rendered namespace 'Checkout_API' is not a valid Kubernetes namespace"),
        ("{{ labels.pod }}", "web", "target namespace: label 'pod' missing"),
        ("shop", "{{ labels.pod }}", "target name: label 'pod' missing"),
        ("shop", "{{ labels.empty }}", "target name: label 'empty' missing"),
    ],
)
def test_render_target_reasons(namespace: str, name: str, reason: str) -> None:
    assert render_target(target(namespace, name), ALERT) == reason


@pytest.mark.parametrize(
    ("s", "label", "subdomain"),
    [
        ("shop", True, True),
        ("a", True, True),
        ("a-b-1", True, True),
        ("1abc", True, True),
        ("web.v2", False, True),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        ("a" * 253, False, True),
        ("a" * 254, False, False),
        ("", False, False),
        ("-a", False, False),
        ("a-", False, False),
        ("Shop", False, False),
        ("a_b", False, False),
        ("a..b", False, False),
        (".a", False, False),
    ],
)
def test_kubernetes_names(s: str, label: bool, subdomain: bool) -> None:
    assert is_dns1123_label(s) is label
    assert is_dns1123_subdomain(s) is subdomain


@pytest.mark.parametrize(
    ("s", "ok"), [("RATE_LIMIT_MODE", True), ("_x1", True), ("1X", False), ("A-B", False)]
)
def test_env_var_names(s: str, ok: bool) -> None:
    assert is_env_var_name(s) is ok


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("app=checkout", None),
        ("app==checkout,tier!=db", None),
        ("app.kubernetes.io/name=checkout", None),
        ("app in (checkout, cart)", None),
        ("app=checkout,!canary", None),
        ("", "selector is empty"),
        ("app!=checkout", "must pin at least one label"),
        ("!canary", "must pin at least one label"),
        ("app notin (a)", "must pin at least one label"),
        ("app=", "must pin at least one label"),
        ("app=Checkout_API!", "is not a label selector requirement"),
        ("app=-x", "not a valid label value"),
        ("-app=x", "not a valid label key"),
        ("app in (a,-b)", "not a valid label value"),
    ],
)
def test_label_selectors(selector: str, problem: str | None) -> None:
    found = label_selector_problem(selector)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_load_time_name_checks() -> None:
    check_name_template(Template.parse("{{ labels.service }}-worker"), what="name")
    check_name_template(Template.parse("web.v2"), what="name")
    with pytest.raises(ValueError, match="not a valid Kubernetes namespace"):
        check_name_template(Template.parse("web.v2"), what="namespace")
    with pytest.raises(ValueError, match="'_' can never be part of a Kubernetes name"):
        check_name_template(Template.parse("{{ labels.service }}_worker"), what="name")
    with pytest.raises(ValueError, match="not a valid Kubernetes name"):
        check_name_template(Template.parse("Web"), what="name")
