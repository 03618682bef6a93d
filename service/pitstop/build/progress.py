"""What `pitstop build` shows while dbt runs: one progress line, not dbt's log.

dbt numbers its nodes as it runs them (``12 of 40 OK created sql table model ...``); the line
says how many have finished and the node it finished last, redrawn in place on a terminal and
written every tenth of the way otherwise (a log file, CI). dbt's own lines stay in
``<data>/dbt/logs/dbt.log``, or on the screen with ``pitstop build -v``.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

# "12 of 40 OK created sql table model main.x ..... [OK in 0.5s]" (a long name has no dots)
_DONE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP)\b\S*\s+(.*?)[\s.]*\[")


class DbtProgress:
    """An echo for :func:`pitstop.build.run.build` that draws a progress line on ``stream``."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._shown = -1
        self._total = self._done = 0
        self._width = 0

    def __call__(self, line: str) -> None:
        match = _DONE.search(line)
        if match is None:
            return
        if match.group(4).startswith("hook:"):
            return  # dbt's on-run hooks are numbered on their own (1 of 1)
        # dbt finishes nodes out of their numbers' order: count the finished ones
        total = int(match.group(2))
        if total != self._total:
            self._total, self._shown, self._done = total, -1, 0
        self._done += 1
        done = self._done
        node = " ".join(match.group(4).split()[-1:])
        text = f"dbt: {done} of {total} nodes done ({match.group(3).lower()}: {node})"
        if self._live:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        elif done * 10 // total > self._shown or done == total:
            self._shown = done * 10 // total
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._live and self._width:
            self._stream.write("\n")
            self._stream.flush()
