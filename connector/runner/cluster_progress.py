"""A progress bar for `replay --cluster` on a TTY, fed by Dask's own progress reporting.

Dask's `TextProgressBar` draws on stdout, where the alerts go; this one draws the same bar
on stderr (logs and progress go to stderr).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from distributed.diagnostics.progressbar import TextProgressBar

__all__ = ["show_progress"]


class _StderrProgressBar(TextProgressBar):
    def _draw_bar(self, remaining: int, all: int, **kwargs: Any) -> None:
        done = 1 - remaining / all if all else 1.0
        bar = "#" * int(self.width * done)
        with contextlib.suppress(ValueError):
            sys.stderr.write(f"\r[{bar:<{self.width}}] {int(100 * done)}% of {all} tasks")
            sys.stderr.flush()

    def _draw_stop(self, **kwargs: Any) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def show_progress(futures: list[Any]) -> None:
    """Draw the bar until every future is done (or one failed); then return."""
    bar: Any = _StderrProgressBar
    bar(futures)  # draws until done (Dask's constructor runs the loop)
