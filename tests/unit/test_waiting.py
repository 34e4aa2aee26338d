"""first_of: returns at the first event set, future done or time-out, and leaves the caller's
futures and tasks as they were."""

from __future__ import annotations

import asyncio
import time

from bot.waiting import first_of


async def test_returns_when_an_event_is_set_and_leaves_no_waiter_behind():
    first, second = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, second.set)
    before = len(asyncio.all_tasks())
    await asyncio.wait_for(first_of(first, second), 2)
    assert second.is_set() and not first.is_set()
    await asyncio.sleep(0)  # the cancelled waiter of `first` finishes
    assert len(asyncio.all_tasks()) == before


async def test_returns_when_a_task_ends_and_never_cancels_the_callers_tasks():
    quick = asyncio.create_task(asyncio.sleep(0.05))
    slow = asyncio.create_task(asyncio.sleep(10))
    try:
        await asyncio.wait_for(first_of(slow, quick, asyncio.Event()), 2)
        assert quick.done() and not slow.done() and not slow.cancelled()
    finally:
        slow.cancel()


async def test_a_time_out_returns_without_an_error():
    started = time.monotonic()
    await first_of(asyncio.Event(), timeout=0.05)
    assert 0.04 <= time.monotonic() - started < 1.0


async def test_a_signal_already_given_returns_at_once():
    done = asyncio.Event()
    done.set()
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    finished.set_result(None)
    await asyncio.wait_for(first_of(done), 0.5)
    await asyncio.wait_for(first_of(finished, asyncio.Event()), 0.5)
