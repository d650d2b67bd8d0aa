"""What the status line and the progress bar say: one object, written by the presenter, drawn by the view.

`activity` is what runs now (a job's kind, "rendering" or "idle"), `bar` the progress bar's words and fraction,
`message` the outcome of the last action, `error` the last failure. Starting a job clears the last outcome and
error; a job's end clears the bar; an edit made after a job (an undo, a new scene, another model) clears the bar
too, so nothing on screen describes work that is no longer there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Status:
    message: str = ""
    error: str = ""
    job: str = ""  # the kind of the running job, "" when none runs
    bar_text: str = ""
    bar_fraction: float = 0.0
    bar_generation: int = -1  # the edit the bar describes

    def begin(self, kind: str, generation: int) -> None:
        self.job, self.message, self.error = kind, "", ""
        self.bar(f"{kind}: starting ...", 0.0, generation)

    def bar(self, text: str, fraction: float, generation: int) -> None:
        self.bar_text, self.bar_fraction, self.bar_generation = text, min(1.0, max(0.0, fraction)), generation

    def end(self, message: str = "", error: str = "") -> None:
        self.job, self.message, self.error = "", message, error
        self.bar_text, self.bar_fraction = "", 0.0

    def say(self, message: str) -> None:
        self.message = message

    def fail(self, error: str) -> None:
        self.error = error

    def edited(self, generation: int) -> None:
        """The edit moved on: a bar left from a finished job no longer describes it."""
        if not self.job and self.bar_text and generation != self.bar_generation:
            self.bar_text, self.bar_fraction = "", 0.0

    def activity(self, rendering: bool) -> str:
        return self.job or ("rendering" if rendering else "idle")
