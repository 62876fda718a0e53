"""What the real servers the tests start have in common: one child process writing to a log file."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import IO


class ChildServer:
    log: Path
    process: subprocess.Popen[bytes] | None = None
    _log_file: IO[str] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(sig)
            self.process.wait(timeout=timeout)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def output(self) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        return self.log.read_text(errors="replace") if self.log.exists() else ""
