from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import pytest

from story2video.errors import FFmpegNotFound, MediaError, OperationCancelled
from story2video.media import ffmpeg as ffmpeg_module
from story2video.media.ffmpeg import FFMPEG_NICENESS, locate_ffmpeg, run_ffmpeg, stderr_tail
from story2video.turns import BEHIND_NICENESS, turns
from story2video.providers.base import StageContext
from tests.media.avcheck import child_processes

SERVICE_FFMPEG_NICENESS = max(os.getpriority(os.PRIO_PROCESS, 0), FFMPEG_NICENESS)

# An endless input read at its native rate: the run lasts until it is stopped.
ENDLESS = ["-re", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-f", "null", "-"]


def cancelled_after(polls: int) -> StageContext:
    counter = itertools.count()
    return StageContext(is_cancelled=lambda: next(counter) >= polls)


def no_ffmpeg_children() -> bool:
    return not any("ffmpeg" in name for _, name in child_processes())


def test_locate_finds_a_binary_and_caches_it(ffmpeg_bin: Path) -> None:
    assert ffmpeg_bin.is_file()
    assert locate_ffmpeg() is ffmpeg_bin


def test_locate_accepts_a_configured_capable_binary(ffmpeg_bin: Path) -> None:
    assert locate_ffmpeg(str(ffmpeg_bin)) == ffmpeg_bin


def test_locate_rejects_a_missing_configured_path(tmp_path: Path) -> None:
    with pytest.raises(FFmpegNotFound) as caught:
        locate_ffmpeg(str(tmp_path / "no-such-ffmpeg"))
    assert "install" in caught.value.message


def test_locate_rejects_a_configured_file_that_is_not_ffmpeg(tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(FFmpegNotFound) as caught:
        locate_ffmpeg(str(fake))
    assert "does not run" in caught.value.message


def test_failure_raises_media_error_with_the_stderr_tail(ffmpeg_bin: Path, tmp_path: Path) -> None:
    missing = tmp_path / "absent.wav"
    with pytest.raises(MediaError) as caught:
        asyncio.run(run_ffmpeg(ffmpeg_bin, ["-i", str(missing), "-f", "null", "-"]))
    assert "absent.wav" in caught.value.message
    assert "No such file or directory" in caught.value.message
    assert str(tmp_path) not in caught.value.message  # callers see the file's name, never where it lives


def test_the_stderr_tail_drops_paths_and_log_context_addresses() -> None:
    lines = ["[in#0/wav @ 0x55d0c2a1b040] [error] /srv/s2v/artifacts/ab/ab12.tmp.9f3e.m4a: Invalid data", "  ", "done"]
    assert stderr_tail(lines) == "[error] <file>: Invalid data\ndone"


def test_cancel_kills_the_process(ffmpeg_bin: Path) -> None:
    with pytest.raises(OperationCancelled):
        asyncio.run(run_ffmpeg(ffmpeg_bin, ENDLESS, ctx=cancelled_after(3)))
    assert no_ffmpeg_children()


def test_timeout_kills_the_process_and_names_the_limit(ffmpeg_bin: Path) -> None:
    with pytest.raises(MediaError) as caught:
        asyncio.run(run_ffmpeg(ffmpeg_bin, ENDLESS, timeout=0.3))
    assert "0.3 s timeout" in caught.value.message
    assert no_ffmpeg_children()


def test_awaiting_task_cancelled_leaves_no_process(ffmpeg_bin: Path) -> None:
    async def cancel_midway() -> None:
        task = asyncio.create_task(run_ffmpeg(ffmpeg_bin, ENDLESS))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert no_ffmpeg_children()


def test_progress_is_reported_up_to_done(ffmpeg_bin: Path) -> None:
    reported: list[float] = []
    ctx = StageContext(progress=reported.append)
    args = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=2", "-f", "null", "-"]
    asyncio.run(run_ffmpeg(ffmpeg_bin, args, ctx=ctx, expected_duration=2.0))
    assert reported and reported[-1] == 1.0
    assert reported == sorted(reported)
    assert all(0.0 <= value <= 1.0 for value in reported)


def test_already_cancelled_context_starts_nothing(ffmpeg_bin: Path, tmp_path: Path) -> None:
    dest = tmp_path / "never.wav"
    args = ["-f", "lavfi", "-i", "anullsrc=d=0.1", str(dest)]
    with pytest.raises(OperationCancelled):
        asyncio.run(run_ffmpeg(ffmpeg_bin, args, ctx=cancelled_after(0)))
    assert not dest.exists()


def test_an_error_in_the_progress_callback_is_raised(ffmpeg_bin: Path) -> None:
    def broken(_: float) -> None:
        raise RuntimeError("progress sink is gone")

    args = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=2", "-f", "null", "-"]
    with pytest.raises(RuntimeError, match="progress sink is gone"):
        asyncio.run(run_ffmpeg(ffmpeg_bin, args, ctx=StageContext(progress=broken), expected_duration=2.0))
    assert no_ffmpeg_children()


def thread_priorities_while_running(ffmpeg_bin: Path, ctx: StageContext | None) -> set[tuple[int, int]]:
    """(scheduling policy, niceness) of every thread of an FFmpeg started with ``ctx``, once it is under way."""

    async def scenario() -> set[tuple[int, int]]:
        task = asyncio.create_task(run_ffmpeg(ffmpeg_bin, ENDLESS, ctx=ctx))
        await asyncio.sleep(0.3)
        (pid, _), = [child for child in child_processes() if "ffmpeg" in child[1]]
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        priorities = {(os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)) for tid in threads}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return priorities

    return asyncio.run(scenario())


def test_ffmpeg_and_all_its_threads_run_at_a_lower_priority_than_the_service(ffmpeg_bin: Path) -> None:
    assert thread_priorities_while_running(ffmpeg_bin, None) == {(os.SCHED_OTHER, SERVICE_FFMPEG_NICENESS)}


def test_ffmpeg_of_an_operation_behind_an_earlier_one_runs_in_the_idle_class(ffmpeg_bin: Path) -> None:
    behind = {(os.SCHED_IDLE, SERVICE_FFMPEG_NICENESS)} if ffmpeg_module._idle_class() else {(os.SCHED_OTHER, BEHIND_NICENESS)}
    with turns.running(100.0):
        assert thread_priorities_while_running(ffmpeg_bin, StageContext(first_come=200.0)) == behind
        assert thread_priorities_while_running(ffmpeg_bin, StageContext(first_come=100.0)) == {(os.SCHED_OTHER, SERVICE_FFMPEG_NICENESS)}


def test_where_the_idle_class_is_not_allowed_a_later_operation_gets_the_lowest_niceness(
    ffmpeg_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ffmpeg_module, "_idle_class", lambda: False)
    with turns.running(100.0):
        assert thread_priorities_while_running(ffmpeg_bin, StageContext(first_come=200.0)) == {(os.SCHED_OTHER, BEHIND_NICENESS)}
