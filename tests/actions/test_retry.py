"""call_with_retries: which errors retry, how many times, how long it sleeps (read off the FakeClock)."""

from __future__ import annotations

import pytest

from remediator.actions.kube import KubeActions
from remediator.actions.retry import RetryPolicy, attempts_of, backoff_s, call_with_retries
from remediator.clock import FakeClock
from remediator.errors import NotApplicableError, PermanentActionError, TransientActionError
from remediator.model import ActionSpec, Target
from remediator.testing.fake_kube import FakeKubeServer

FAST = RetryPolicy(attempts=4, backoff_min_s=1.0, backoff_max_s=30.0, deadline_s=120.0)


class Flaky:
    """Fails with the given errors in order, then returns 'ok'; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_returns_result_and_one_attempt_without_errors() -> None:
    clock = FakeClock()
    result, attempts = await call_with_retries(Flaky(), policy=FAST, clock=clock)
    assert (result, attempts) == ("ok", 1)
    assert clock.monotonic() == 0.0


async def test_counts_attempts_through_transient_errors_and_reports_each_retry() -> None:
    clock = FakeClock()
    seen: list[tuple[int, str, float]] = []
    fn = Flaky(TransientActionError("500 one"), TransientActionError("500 two"))
    result, attempts = await call_with_retries(
        fn, policy=FAST, clock=clock, on_retry=lambda n, e, s: seen.append((n, str(e), s))
    )
    assert (result, attempts, fn.calls) == ("ok", 3, 3)
    assert [(n, msg) for n, msg, _ in seen] == [(1, "500 one"), (2, "500 two")]
    # Exponential with up to backoff_min of jitter: 1..2s, then 2..3s; the FakeClock advanced by exactly that.
    assert 1.0 <= seen[0][2] <= 2.0
    assert 2.0 <= seen[1][2] <= 3.0
    assert clock.monotonic() == pytest.approx(seen[0][2] + seen[1][2])


async def test_stops_after_the_configured_attempts_and_reraises_the_last_error() -> None:
    clock = FakeClock()
    fn = Flaky(*(TransientActionError(f"fail {i}") for i in range(10)))
    with pytest.raises(TransientActionError, match="fail 3") as info:
        await call_with_retries(fn, policy=FAST, clock=clock)
    assert fn.calls == 4
    assert attempts_of(info.value) == 4


async def test_honours_retry_after_even_above_the_backoff() -> None:
    clock = FakeClock()
    sleeps: list[float] = []
    fn = Flaky(TransientActionError("throttled", retry_after_s=20.0))
    result, attempts = await call_with_retries(
        fn, policy=FAST, clock=clock, on_retry=lambda n, e, s: sleeps.append(s)
    )
    assert (result, attempts) == ("ok", 2)
    assert sleeps == [20.0]
    assert clock.monotonic() == 20.0


@pytest.mark.parametrize("error", [PermanentActionError("forbidden"), NotApplicableError("no history")])
async def test_never_retries_permanent_or_not_applicable(error: Exception) -> None:
    clock = FakeClock()
    fn = Flaky(error)
    with pytest.raises(type(error)) as info:
        await call_with_retries(fn, policy=FAST, clock=clock)
    assert fn.calls == 1
    assert attempts_of(info.value) == 1
    assert clock.monotonic() == 0.0


async def test_permanent_after_transient_reports_both_attempts() -> None:
    fn = Flaky(TransientActionError("500"), PermanentActionError("404"))
    with pytest.raises(PermanentActionError) as info:
        await call_with_retries(fn, policy=FAST, clock=FakeClock())
    assert attempts_of(info.value) == 2


async def test_deadline_is_a_strict_bound_on_the_sleeps() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=10, backoff_min_s=4.0, backoff_max_s=4.0, deadline_s=10.0)
    fn = Flaky(*(TransientActionError("500") for _ in range(10)))
    with pytest.raises(TransientActionError) as info:
        await call_with_retries(fn, policy=policy, clock=clock)
    # Sleeps of 4s: 0 -> 4 -> 8; a third would end at 12 > 10, so it stops after the third call.
    assert fn.calls == 3
    assert attempts_of(info.value) == 3
    assert clock.monotonic() == 8.0


async def test_retry_after_beyond_the_deadline_gives_up_without_sleeping() -> None:
    clock = FakeClock()
    fn = Flaky(TransientActionError("throttled", retry_after_s=600.0))
    with pytest.raises(TransientActionError):
        await call_with_retries(fn, policy=FAST, clock=clock)
    assert fn.calls == 1
    assert clock.monotonic() == 0.0


def test_backoff_grows_is_capped_and_respects_retry_after() -> None:
    policy = RetryPolicy(backoff_min_s=1.0, backoff_max_s=5.0)
    for _ in range(50):
        assert 1.0 <= backoff_s(policy, 1) <= 2.0
        assert 4.0 <= backoff_s(policy, 3) <= 5.0
        assert backoff_s(policy, 30) == 5.0
        assert backoff_s(policy, 1, retry_after_s=9.0) == 9.0


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"backoff_min_s": 5.0, "backoff_max_s": 1.0}, {"deadline_s": 0.0}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# -- through the real client against the fake API server ---------------------------------------------------


async def test_repeated_500_then_success_through_the_client(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "search", replicas=4)
    fake_kube.inject(status=500, method="GET", path=r"/deployments/search/scale$", times=2)
    start = clock.monotonic()
    result, attempts = await call_with_retries(
        lambda: kube_actions.execute(ActionSpec(kind="scale", params={"to": 6}), SEARCH),
        policy=FAST,
        clock=clock,
    )
    assert attempts == 3
    assert result.applied
    assert fake_kube.get("Deployment", "shop", "search")["spec"]["replicas"] == 6  # type: ignore[index]
    assert clock.monotonic() - start >= 1.0 + 2.0


async def test_429_retry_after_through_the_client(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    fake_kube.add_deployment("shop", "search", replicas=4)
    fake_kube.inject(status=429, method="PATCH", path=r"/deployments/search/scale$", retry_after=15)
    sleeps: list[float] = []
    _, attempts = await call_with_retries(
        lambda: kube_actions.execute(ActionSpec(kind="scale", params={"to": 6}), SEARCH),
        policy=FAST,
        clock=clock,
        on_retry=lambda n, e, s: sleeps.append(s),
    )
    assert attempts == 2
    assert sleeps == [15.0]


async def test_404_is_not_retried_through_the_client(
    fake_kube: FakeKubeServer, kube_actions: KubeActions, clock: FakeClock
) -> None:
    with pytest.raises(PermanentActionError, match="not found") as info:
        await call_with_retries(
            lambda: kube_actions.execute(ActionSpec(kind="rollout_restart"), SEARCH), policy=FAST, clock=clock
        )
    assert attempts_of(info.value) == 1
    assert fake_kube.writes == []


SEARCH = Target(kind="Deployment", namespace="shop", name="search")
