"""The guards' memory, caught up with what other replicas wrote to the shared journal.

Each replica's guards keep their state in memory (fast, and rebuilt from the journal at start-up).
With several replicas on one database, every decision turn starts with the journal's guard feed:
the acts other replicas decided since this one last decided (cooldown, rate limits, dedup, a
half-open breaker's probe), their executions' results (the breaker), the ends without a result
(a probe freed; an act that changed nothing, refused while acting or taken over before it started,
no longer counts), and everything in flight
anywhere (in-flight and concurrency limits). Applied under the turn's lock, before any guard checks,
so the state the guards read is the state the decision is recorded against. A full feed (the first
turn, or after a failed one) replaces the history instead of adding to it.

With a single writer the feed is empty and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

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
        for end in feed.ends:
            a = end.act
            self._ended(
                a.rule, a.target, a.dry_run, a.decided_at, (a.fingerprint, a.starts_at), counts=end.counts
            )
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
        if not ex.dry_run:
            self.concurrency.release_target(ex.target)
        episode = (ex.fingerprint, ex.starts_at)
        if self._ended(ex.rule, ex.target, ex.dry_run, ex.decided_at, episode, counts=ex.started):
            return (
                "it was the circuit breaker's half-open probe, which ended without a result:"
                " the next decision may probe"
            )
        return ""

    def _ended(
        self,
        rule: str,
        target: str,
        dry_run: bool,
        decided_at: datetime,
        episode: tuple[str | None, datetime | None],
        *,
        counts: bool,
    ) -> bool:
        """An execution ended without a result (interrupted, skipped): it holds no half-open probe, and
        unless it `counts` (it may have changed the cluster), no cooldown, rate limit or dedup either.
        True when it was the probe."""
        probe = not dry_run and self.breaker.forget_probe(rule, target, at=decided_at)
        if not counts:
            self.cooldown.forget_act(rule, target, dry_run, decided_at)
            self.ratelimit.forget_act(rule, target, dry_run, decided_at)
            fingerprint, starts_at = episode
            if fingerprint is not None and starts_at is not None:
                self.dedup.forget_act((fingerprint, starts_at, rule, target, dry_run), decided_at)
        return probe


def _namespace(target_key: str) -> str:
    """The namespace of a target key (`namespace/Kind/name`)."""
    return target_key.split("/", 1)[0]
