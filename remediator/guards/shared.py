"""The guards' memory, caught up with what other replicas wrote to the shared journal.

Each replica's guards keep their state in memory (fast, and rebuilt from the journal at start-up).
With several replicas on one database, every decision turn starts with the journal's guard feed:
the acts other replicas decided since this one last decided (cooldown, rate limits, dedup, a
half-open breaker's probe), their executions' results (the breaker), and everything in flight
anywhere (in-flight and concurrency limits). Applied under the turn's lock, before any guard checks,
so the state the guards read is the state the decision is recorded against. A full feed (the first
turn, or after a failed one) replaces the history instead of adding to it.

With a single writer the feed is empty and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from remediator.guards.breaker import CircuitBreaker
from remediator.guards.concurrency import ConcurrencyGuard
from remediator.guards.cooldown import CooldownGuard
from remediator.guards.dedup import DedupGuard
from remediator.guards.inflight import InFlightGuard
from remediator.guards.ratelimit import RateLimitGuard
from remediator.rules import Rule
from remediator.store import GuardFeed, InterruptedExecution


@dataclass(frozen=True, kw_only=True)
class SharedGuards:
    cooldown: CooldownGuard
    ratelimit: RateLimitGuard
    dedup: DedupGuard
    inflight: InFlightGuard
    concurrency: ConcurrencyGuard
    breaker: CircuitBreaker
    rules: Callable[[str], Rule | None]

    def catch_up(self, feed: GuardFeed) -> None:
        if feed.full:
            for guard in (self.cooldown, self.ratelimit, self.dedup, self.breaker):
                guard.clear()
        acts = [(a.rule, a.target, a.dry_run, a.decided_at) for a in feed.acts]
        self.cooldown.load(acts)
        self.ratelimit.load(acts)
        self.dedup.load(
            (a.fingerprint, a.starts_at, a.rule, a.target, a.dry_run, a.decided_at)
            for a in feed.acts
            if a.fingerprint is not None and a.starts_at is not None
        )
        if feed.outcomes:
            self.breaker.load([(o.rule, o.target, o.ok, o.finished_at) for o in feed.outcomes], self.rules)
        # A real act decided in half-open is the probe while its execution is unfinished somewhere; one
        # that already ended without a result (interrupted, skipped) holds no probe (see `interrupted`).
        unfinished = (
            None if feed.running is None else {(r.rule, r.target) for r in feed.running if not r.dry_run}
        )
        for a in feed.acts:
            if not a.dry_run and (unfinished is None or (a.rule, a.target) in unfinished):
                self.breaker.note_act(a.rule, a.target, at=a.decided_at)
        if feed.running is not None:
            self.inflight.replace((r.target, r.dry_run, r.rule) for r in feed.running)
            self.concurrency.replace((r.target, _namespace(r.target)) for r in feed.running if not r.dry_run)

    def interrupted(self, ex: InterruptedExecution) -> str:
        """An execution just marked interrupted (a take-over, or start-up after a crash), before it is
        decided again: the guards say what the journal now says. It is in flight nowhere, and if it was
        a half-open breaker's probe, no probe runs: it ended without a result, so the next decision may
        probe (else the breaker would stay blocked for good). One that was only queued changed nothing,
        so it holds no cooldown, rate limit or dedup either (the journal's rebuild leaves it out too);
        one that was running may have changed the cluster and still counts.

        Returns what that changed for the breaker, for the reason of the decision taken again ("" if
        nothing).
        """
        self.inflight.release_target(ex.target, ex.dry_run, ex.rule)
        note = ""
        if not ex.dry_run:
            self.concurrency.release_target(ex.target)
            if self.breaker.forget_probe(ex.rule, ex.target, at=ex.decided_at):
                note = (
                    "it was the circuit breaker's half-open probe, which ended without a result:"
                    " the next decision may probe"
                )
        if ex.started:
            return note
        self.cooldown.forget_act(ex.rule, ex.target, ex.dry_run, ex.decided_at)
        self.ratelimit.forget_act(ex.rule, ex.target, ex.dry_run, ex.decided_at)
        if ex.fingerprint is not None and ex.starts_at is not None:
            self.dedup.forget_act(
                (ex.fingerprint, ex.starts_at, ex.rule, ex.target, ex.dry_run), ex.decided_at
            )
        return note


def _namespace(target_key: str) -> str:
    """The namespace of a target key (`namespace/Kind/name`)."""
    return target_key.split("/", 1)[0]
