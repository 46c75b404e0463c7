"""The rule book: the rule set in force, swapped whole on reload.

Like Alertmanager's config coordinator: one holder, read per use (`current()`, `get(name)`) by
the decider, the executor, the breaker and the API, and replaced atomically by `swap(new)` when
the files reload, so an alert is decided against one rule set, never half of two. Subscribers
hear of every rule set put in force (at start-up through `publish`, on reload through `swap`):
that is how the metrics declare the rules without the reloader knowing about them.
"""

from __future__ import annotations

from collections.abc import Callable

from remediator.rules.compiled import Rule
from remediator.rules.index import RuleSet

Subscriber = Callable[[RuleSet], None]


class RuleBook:
    def __init__(self, rules: RuleSet) -> None:
        self._rules = rules
        self._subscribers: list[Subscriber] = []

    def current(self) -> RuleSet:
        return self._rules

    def get(self, name: str) -> Rule | None:
        return self._rules.get(name)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self) -> None:
        """Tell the subscribers of the rule set in force (at start-up)."""
        for subscriber in self._subscribers:
            subscriber(self._rules)

    def swap(self, new: RuleSet) -> RuleSet:
        """Put `new` in force and tell the subscribers; returns the rule set it replaced."""
        old, self._rules = self._rules, new
        self.publish()
        return old
