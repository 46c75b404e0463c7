"""The rule book: one rule set in force, swapped whole, its subscribers told."""

from __future__ import annotations

from remediator.rules import RuleBook, RuleSet, load_rules_text

ONE = """
rules:
  - name: {name}
    match: ['alertname = "X"']
    target: {{kind: Deployment, namespace: shop, name: x}}
    actions: [{{rollout_restart: {{}}}}]
"""


def test_swap_puts_the_new_set_in_force_and_tells_the_subscribers() -> None:
    first, second = load_rules_text(ONE.format(name="first")), load_rules_text(ONE.format(name="second"))
    book = RuleBook(first)
    heard: list[RuleSet] = []
    book.subscribe(heard.append)
    book.publish()
    assert book.current() is first and book.get("first") is not None and heard == [first]
    assert book.swap(second) is first
    assert book.current() is second and book.get("first") is None and heard == [first, second]
