"""Work of an operation that came later runs at a lower priority while an earlier one is running."""

from __future__ import annotations

import asyncio
import os
import threading

from story2video.stagecontext import StageContext
from story2video.turns import BEHIND_NICENESS, Turns


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_an_operation_is_behind_only_while_an_earlier_one_runs() -> None:
    turns = Turns()
    early, late = StageContext(first_come=1.0), StageContext(first_come=2.0)
    assert not turns.behind(late)
    with turns.running(1.0):
        with turns.running(2.0):
            assert turns.behind(late) and not turns.behind(early)
            assert not turns.behind(StageContext())  # work for no operation waits for nobody
            assert not turns.behind(None)
        with turns.running(1.0):  # the same operation twice (e.g. two attempts' overlap) is counted twice
            pass
        assert turns.behind(late)
    assert not turns.behind(late)


def test_cpu_work_of_a_later_operation_runs_in_a_lowered_thread() -> None:
    turns = Turns()

    async def scenario() -> tuple[int, int, int]:
        with turns.running(1.0):
            ahead = await turns.in_thread(StageContext(first_come=1.0), own_niceness)
            behind = await turns.in_thread(StageContext(first_come=2.0), own_niceness)
        alone = await turns.in_thread(StageContext(first_come=2.0), own_niceness)
        return ahead, behind, alone

    ahead, behind, alone = asyncio.run(scenario())
    assert behind == BEHIND_NICENESS
    assert ahead == alone == own_niceness() < BEHIND_NICENESS


def test_errors_of_the_work_reach_the_caller() -> None:
    turns = Turns()

    def broken(word: str) -> None:
        raise ValueError(word)

    async def scenario() -> None:
        with turns.running(1.0):
            await turns.in_thread(StageContext(first_come=2.0), broken, "painted wrong")

    try:
        asyncio.run(scenario())
    except ValueError as exc:
        assert str(exc) == "painted wrong"
    else:
        raise AssertionError("the work's error was lost")
