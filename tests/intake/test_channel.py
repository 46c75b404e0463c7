"""The channel between the main process and the intake process: whole states, never blocking."""

from __future__ import annotations

import asyncio

from remediator.intake.channel import Channel, Handlers, socket_pair


async def test_messages_arrive_and_the_end_of_the_other_side_is_seen() -> None:
    ours, theirs = socket_pair()
    main, intake = Channel(ours), Channel(theirs)
    got: list[tuple[str, tuple[int, ...]]] = []
    both = asyncio.Event()
    closed = asyncio.Event()

    def record(kind: str, *values: int) -> None:
        got.append((kind, values))
        if len(got) == 2:
            both.set()

    main.start(
        Handlers(
            committed=lambda h, w: record("committed", h, w),
            listening=lambda port: record("listening", port),
            closed=closed.set,
        )
    )
    told = asyncio.get_running_loop().create_future()
    intake.start(Handlers(backlog=lambda b, a: told.set_result((b, a))))
    intake.listening(8081)
    intake.committed(2**40, waiting=3)
    main.backlog(7, as_of=12)
    assert await asyncio.wait_for(told, 5) == (7, 12)
    async with asyncio.timeout(5):
        await both.wait()
    assert got == [("listening", (8081,)), ("committed", (2**40, 3))]
    intake.close()  # the intake process exits (or the main process, seen from the other side)
    async with asyncio.timeout(5):
        await closed.wait()
    main.close()


async def test_a_full_buffer_drops_instead_of_blocking() -> None:
    ours, theirs = socket_pair()
    intake = Channel(theirs)
    for i in range(100_000):  # nobody reads: the buffer fills
        intake.committed(i, waiting=0)
        if intake.dropped:
            break
    assert intake.dropped == 1
    intake.close()
    ours.close()
