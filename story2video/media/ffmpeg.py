"""Find a capable FFmpeg binary and run it without blocking the event loop.

Command lines: the filter graphs in ``compose`` are built with ffmpeg-python (``import ffmpeg``)
because it names the intermediate pads and does FFmpeg's two-level escaping for us; short fixed
commands (capability checks, probing) are plain argument lists because they read better as such.
ffmpeg-python only builds argument lists here: every process is started by ``run_ffmpeg``.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from loguru import logger

from story2video.errors import FFmpegNotFound, MediaError, OperationCancelled, StorageFull, without_paths
from story2video.stagecontext import StageContext
from story2video.turns import BEHIND_NICENESS, turns

REQUIRED_ENCODERS = ("libx264", "aac")
# What ``compose`` uses: libass (``ass``/``subtitles``), tagging the moved frames (``setparams``), clip
# fitting (``tpad``), transitions (``xfade``/``acrossfade``) and the music bed.
REQUIRED_FILTERS = (
    "ass", "subtitles", "setparams", "loop", "tpad", "xfade", "acrossfade", "sidechaincompress", "aevalsrc",
)
INSTALL_HINT = (
    "install an FFmpeg build with libx264, AAC, libass and the xfade filter (e.g. `apt install ffmpeg`), "
    "or `pip install imageio-ffmpeg`, or set FFMPEG_BINARY to such a binary"
)
POLL_INTERVAL_S = 0.1
PIPE_BYTES = 1 << 20
# Encodes are batch work: under CPU contention the service's event loop (API, SSE) goes first.
FFMPEG_NICENESS = 10
STDERR_TAIL_LINES = 15
_CHECK_TIMEOUT_S = 30.0
_LOG_CONTEXT_RE = re.compile(r"^(?:\[[^\]\n]* @ 0x[0-9a-fA-F]+\] ?)+")


# ------------------------------------------------------------------ locating


@lru_cache(maxsize=8)
def locate_ffmpeg(configured: str = "") -> Path:
    """The configured binary, else a capable ``ffmpeg`` on PATH, else the imageio-ffmpeg one."""
    if configured:
        path = Path(configured).expanduser()
        if len(path.parts) == 1 and not path.exists():  # a bare command name: look it up on PATH
            path = Path(shutil.which(configured) or configured)
        missing = _missing_capabilities(path)
        if missing:
            raise FFmpegNotFound(f"FFMPEG_BINARY={configured} is not usable: {missing}; {INSTALL_HINT}")
        return path
    system = shutil.which("ffmpeg")
    if system and not _missing_capabilities(Path(system)):
        return Path(system)
    bundled = _imageio_ffmpeg()
    if bundled is not None and not _missing_capabilities(bundled):
        return bundled
    raise FFmpegNotFound(f"no FFmpeg with the features Story2Video needs was found; {INSTALL_HINT}")


def _imageio_ffmpeg() -> Path | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return Path(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:  # the package is installed but ships no binary for this platform
        return None


def _missing_capabilities(binary: Path) -> str:
    """'' when ``binary`` runs and has every encoder and filter we use, else what is wrong."""
    if not binary.is_file():
        return "no such file"
    try:
        encoders = _listing(binary, "-encoders")
        filters = _listing(binary, "-filters")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"it does not run ({exc})"
    missing = [name for name in REQUIRED_ENCODERS if name not in encoders]
    missing += [name for name in REQUIRED_FILTERS if name not in filters]
    return f"missing {', '.join(missing)}" if missing else ""


def _listing(binary: Path, flag: str) -> set[str]:
    """Names from ``ffmpeg -encoders`` / ``-filters`` (second column of each entry line)."""
    done = subprocess.run(
        [str(binary), "-hide_banner", flag],
        capture_output=True,
        text=True,
        timeout=_CHECK_TIMEOUT_S,
        check=True,
    )
    names = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and re.fullmatch(r"[A-Z.|]{2,6}", parts[0]):
            names.add(parts[1])
    return names


# ------------------------------------------------------------------ running


async def run_ffmpeg(
    ffmpeg: Path,
    args: list[str],
    *,
    ctx: StageContext | None = None,
    timeout: float | None = None,
    expected_duration: float | None = None,
    loglevel: str = "warning",
    stdin: Iterable[bytes | memoryview] | None = None,
) -> list[str]:
    """Run ``ffmpeg args``; raise OperationCancelled, or MediaError on timeout or failure.

    ``expected_duration`` (seconds of output) turns on progress reports through ``ctx.progress``.
    ``stdin``: chunks written to FFmpeg's standard input (``-i pipe:0``) by a worker thread, produced
    there too, so that producing them (e.g. resizing frames) does not hold up the event loop.
    The process is always reaped, whatever happens to the awaiting task. Returns the last lines
    FFmpeg wrote to stderr at ``loglevel`` (e.g. ``level+error``: only errors, each tagged).
    """
    if ctx is not None:
        ctx.raise_if_cancelled()
    report = ctx is not None and bool(expected_duration)
    command = [*_priority_prefix(turns.behind(ctx)), str(ffmpeg), "-hide_banner", "-nostdin", "-y", "-loglevel", loglevel, "-nostats"]
    if report:
        command += ["-progress", "pipe:1"]
    feed_from, feed_to = os.pipe() if stdin is not None else (None, None)
    if feed_to is not None:
        _widen_pipe(feed_to)
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            *args,
            stdin=asyncio.subprocess.DEVNULL if feed_from is None else feed_from,
            stdout=asyncio.subprocess.PIPE if report else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except BaseException:
        if feed_to is not None:
            os.close(feed_to)
        raise
    finally:
        if feed_from is not None:
            os.close(feed_from)
    stderr_lines: deque[str] = deque(maxlen=200)
    readers = {asyncio.create_task(_collect_lines(process.stderr, stderr_lines))}
    if feed_to is not None and stdin is not None:
        readers.add(asyncio.ensure_future(asyncio.to_thread(_feed, feed_to, stdin)))
    if report:
        readers.add(asyncio.create_task(_report_progress(process.stdout, ctx, expected_duration)))
    try:
        await _wait_for_exit(process, readers, ctx, timeout)
    finally:
        await _reap(process)
        await asyncio.wait(readers)  # the pipes close with the process
    for reader in readers:
        reader.result()  # an error in a reader (e.g. the progress callback) is not swallowed
    if process.returncode != 0:
        tail = stderr_tail(stderr_lines)
        if "No space left on device" in tail:
            raise StorageFull(f"the disk is full: ffmpeg could not write its output\n{tail}")
        raise MediaError(f"ffmpeg failed (exit code {process.returncode}):\n{tail}")
    return list(stderr_lines)


def _priority_prefix(behind: bool) -> list[str]:
    """What FFmpeg is started under, so that it and every thread it starts have their priority from
    the start: ``nice`` up to ``FFMPEG_NICENESS`` (never above the service's own priority), and for an
    operation that is behind an earlier one (``story2video.turns``) Linux's idle class (``chrt
    --idle``): it runs only on cores the earlier operations leave free. Where that class cannot be
    used (no ``chrt``, or a sandbox that forbids it), niceness ``BEHIND_NICENESS`` instead."""
    idle_class = behind and _idle_class()
    target = BEHIND_NICENESS if behind and not idle_class else FFMPEG_NICENESS
    raise_by = target - os.getpriority(os.PRIO_PROCESS, 0)
    prefix = [_required_tool("nice"), "-n", str(raise_by)] if raise_by > 0 else []
    if idle_class:
        prefix += [_required_tool("chrt"), "--idle", "0"]
    return prefix


@lru_cache(maxsize=None)
def _tool(name: str) -> str | None:
    return shutil.which(name)


@lru_cache(maxsize=1)
def _idle_class() -> bool:
    """Whether programs can be started in the idle class here (checked once)."""
    chrt, true = _tool("chrt"), _tool("true")
    if chrt is None or true is None:
        logger.warning("`chrt` (util-linux) is missing: FFmpeg of later operations runs at niceness {} instead of the idle class", BEHIND_NICENESS)
        return False
    result = subprocess.run([chrt, "--idle", "0", true], capture_output=True, text=True, timeout=_CHECK_TIMEOUT_S)
    if result.returncode != 0:
        logger.warning("the idle scheduling class is not allowed here ({}): FFmpeg of later operations runs at niceness {}",
                       result.stderr.strip() or f"exit {result.returncode}", BEHIND_NICENESS)
    return result.returncode == 0


def _required_tool(name: str) -> str:
    found = _tool(name)
    if found is None:
        raise FFmpegNotFound(f"`{name}` (coreutils) is needed to start FFmpeg at a lower priority than the service; install coreutils")
    return found


async def _wait_for_exit(
    process: asyncio.subprocess.Process,
    readers: set[asyncio.Task],
    ctx: StageContext | None,
    timeout: float | None,
) -> None:
    """Return when the process exits; raise on cancel, timeout or a failed output reader."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    waiter = asyncio.ensure_future(process.wait())
    watched = set(readers)
    try:
        while True:
            done, _ = await asyncio.wait(
                {waiter, *watched}, timeout=POLL_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED
            )
            for reader in done & watched:
                watched.discard(reader)
                reader.result()
            if waiter in done:
                return
            if ctx is not None and ctx.is_cancelled():
                raise OperationCancelled()
            if deadline is not None and loop.time() >= deadline:
                raise MediaError(f"ffmpeg did not finish within its {timeout:g} s timeout")
    finally:
        waiter.cancel()


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Kill the process if it still runs and wait for it, so no zombie is left behind."""
    if process.returncode is None:
        try:
            process.kill()
        except ProcessLookupError:
            pass
    await asyncio.shield(process.wait())


def _widen_pipe(fd: int) -> None:
    """Let the pipe hold a whole 720p frame (the default 64 KiB costs a wake-up per 64 KiB)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):
        pass  # not Linux, or above /proc/sys/fs/pipe-max-size: the default size works, a little slower


def _feed(fd: int, chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to the pipe ``fd``, then close it (FFmpeg's end of input)."""
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass  # FFmpeg stopped reading (it failed, or it was stopped): its exit status says which
    finally:
        os.close(fd)


async def _collect_lines(stream: asyncio.StreamReader | None, sink: deque[str]) -> None:
    if stream is None:
        return
    while line := await stream.readline():
        sink.append(line.decode("utf-8", errors="replace").rstrip())


async def _report_progress(stream: asyncio.StreamReader | None, ctx: StageContext | None, total: float | None) -> None:
    """Turn ``-progress`` key=value lines into ``ctx.progress(0..1)`` calls."""
    if stream is None or ctx is None or not total:
        return
    while line := await stream.readline():
        key, _, value = line.decode("ascii", errors="replace").strip().partition("=")
        if key == "out_time_us" and value.lstrip("-").isdigit():
            ctx.progress(min(1.0, max(0.0, int(value) / 1e6 / total)))
        elif key == "progress" and value == "end":
            ctx.progress(1.0)


def stderr_tail(lines: Iterable[str], count: int = STDERR_TAIL_LINES) -> str:
    """The last ``count`` non-empty lines of FFmpeg's stderr, one per line, fit for an error
    message: without file paths (see ``without_paths``) or the ``[ctx @ 0x55d0...]`` prefixes."""
    meaningful = [stderr_text(line) for line in lines]
    return "\n".join([line for line in meaningful if line][-count:]) or "(nothing on stderr)"


def stderr_text(line: str) -> str:
    """One FFmpeg log line without its context prefixes (they hold memory addresses) or paths."""
    return without_paths(_LOG_CONTEXT_RE.sub("", line).strip())
