"""Progress lines that read well on a terminal and in a log file.

On a terminal a progress line is rewritten in place (carriage return); in a file or a pipe a carriage return
would make one endless line, so there each update is a line of its own, at most one every few seconds.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

LOG_EVERY_S = 5.0  # seconds between progress lines when the output is not a terminal


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Status:
    """A progress line: `status(text)` updates it, `status(text, final=True)` or `close()` ends it."""

    def __init__(self, stream: TextIO | None = None, every_s: float = LOG_EVERY_S) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty, self.every_s = is_terminal(self.stream), every_s
        self.last_print = -float("inf")
        self.open = False  # a terminal line waits for its end

    def __call__(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
            self.open = not final
        elif final or time.monotonic() - self.last_print >= self.every_s:
            self.stream.write(text + "\n")
            self.last_print = time.monotonic()
        self.stream.flush()

    def close(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


class _Lines:
    """A file for tqdm when the output is not a terminal: every redraw becomes a line of its own."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, s: str) -> None:
        text = s.replace("\r", "").replace("\x1b[A", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def bar_options(stream: TextIO | None = None) -> dict[str, Any]:
    """Keyword arguments for tqdm: as usual on a terminal, one line every few seconds in a log file."""
    stream = stream if stream is not None else sys.stderr
    if is_terminal(stream):
        return {"file": stream}
    return {"file": _Lines(stream), "mininterval": LOG_EVERY_S, "dynamic_ncols": False, "ncols": 100}
