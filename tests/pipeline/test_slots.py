"""The compose slots hand a free slot to the operation that came first, its longest work first."""

from __future__ import annotations

import asyncio

import pytest

from story2video.pipeline.slots import RankedSlots


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_a_free_slot_goes_to_the_earliest_operation_and_its_longest_segment() -> None:
    async def scenario() -> list[str]:
        slots = RankedSlots(1)
        order: list[str] = []
        release = asyncio.Event()

        async def work(name: str, first_come: float, seconds: float) -> None:
            async with slots.slot(first_come, seconds):
                order.append(name)
                if name == "holder":
                    await release.wait()

        holder = asyncio.ensure_future(work("holder", 0.0, 1.0))
        await settle()
        # arriving in this order while the slot is taken: a later render's segment first
        waiters = [asyncio.ensure_future(work(name, first_come, seconds)) for name, first_come, seconds in [
            ("late render, 3 s", 2.0, 3.0), ("early render, 2 s", 1.0, 2.0), ("early render, 6 s", 1.0, 6.0),
            ("late render, 9 s", 2.0, 9.0), ("early render, 4 s", 1.0, 4.0),
        ]]
        await settle()
        assert slots.waiting() == 5
        release.set()
        await asyncio.gather(holder, *waiters)
        return order

    assert asyncio.run(scenario()) == [
        "holder", "early render, 6 s", "early render, 4 s", "early render, 2 s", "late render, 9 s", "late render, 3 s",
    ]


def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    async def scenario() -> list[str]:
        slots = RankedSlots(1)
        order: list[str] = []
        release = asyncio.Event()

        async def work(name: str, first_come: float) -> None:
            async with slots.slot(first_come):
                order.append(name)
                if name == "holder":
                    await release.wait()

        holder = asyncio.ensure_future(work("holder", 0.0))
        await settle()
        cancelled = asyncio.ensure_future(work("cancelled", 1.0))
        later = asyncio.ensure_future(work("later", 2.0))
        await settle()
        cancelled.cancel()
        release.set()
        await asyncio.gather(holder, later)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        async with slots.slot(3.0):  # the slot came back: nothing is left waiting or held
            order.append("after")
        return order

    assert asyncio.run(scenario()) == ["holder", "later", "after"]


class GatedWork:
    """Pieces of work that hold their slot until the gate opens, counting how many run at once."""

    def __init__(self, slots: RankedSlots):
        self.slots, self.gate = slots, asyncio.Event()
        self.running = self.most = 0

    def start(self, first_come: float) -> asyncio.Future[None]:
        return asyncio.ensure_future(self._work(first_come))

    async def _work(self, first_come: float) -> None:
        async with self.slots.slot(first_come):
            self.running += 1
            self.most = max(self.most, self.running)
            await self.gate.wait()
            self.running -= 1


def test_up_to_capacity_run_at_once() -> None:
    async def scenario() -> int:
        work = GatedWork(RankedSlots(2))
        tasks = [work.start(float(n)) for n in range(5)]
        await settle()
        assert work.running == 2 and work.slots.waiting() == 3
        work.gate.set()
        await asyncio.gather(*tasks)
        return work.most

    assert asyncio.run(scenario()) == 2


def test_an_earlier_operation_overtakes_a_slot_held_by_a_later_one() -> None:
    async def scenario() -> list[str]:
        slots = RankedSlots(1)
        order: list[str] = []
        release_late = asyncio.Event()

        async def work(name: str, first_come: float, gate: asyncio.Event | None = None) -> None:
            async with slots.slot(first_come):
                order.append(f"{name} starts")
                if gate is not None:
                    await gate.wait()
                order.append(f"{name} ends")

        late = asyncio.ensure_future(work("late", 2.0, release_late))
        await settle()
        early = asyncio.ensure_future(work("early", 1.0))  # no free slot, but the holder came later
        await settle()
        assert order[-1] == "early ends" and slots.held() == 1  # it ran beside the later holder
        latest = asyncio.ensure_future(work("latest", 3.0))  # behind both: waits
        await settle()
        assert slots.waiting() == 1 and slots.held() == 1
        release_late.set()
        await asyncio.gather(late, early, latest)
        assert slots.held() == 0
        return order

    assert asyncio.run(scenario()) == ["late starts", "early starts", "early ends", "late ends", "latest starts", "latest ends"]


def test_overtaking_is_one_extra_slot_per_later_holder() -> None:
    async def scenario() -> int:
        work = GatedWork(RankedSlots(1))
        tasks = [work.start(9.0)]
        await settle()
        tasks += [work.start(1.0) for _ in range(3)]  # three pieces of one earlier render
        await settle()
        assert work.running == 2 and work.slots.waiting() == 2
        work.gate.set()
        await asyncio.gather(*tasks)
        return work.most

    assert asyncio.run(scenario()) == 2
