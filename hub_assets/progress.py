"""Progress of long transfers: bars on a terminal for people, bounded lines for run logs.

Every long transfer (download, verification, packaging) reports `(stage, path, done, size)`
with `done` the bytes of that file handled so far. `TransferBars` draws one bar per large
file and one total per stage, with speed and ETA (tqdm), and draws nothing when stderr is
not a terminal or huggingface_hub's progress bars are disabled (`HF_HUB_DISABLE_PROGRESS_BARS`,
which the tests and CI set). `ProgressLines` turns the same reports into log lines at a
bounded rate, for the Dagster run log.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from huggingface_hub.utils import are_progress_bars_disabled

LARGE_FILE = 10 * 1024**2  # files at least this big get a bar of their own
LOG_INTERVAL_S = 5.0


def bars_enabled(stream: TextIO | None = None) -> bool:
    """Whether to draw bars: a terminal, and progress bars not disabled."""
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) and not are_progress_bars_disabled()


class TransferBars:
    """One total bar per stage and one bar per large file (see module)."""

    def __init__(
        self,
        totals: dict[str, int] | None = None,
        *,
        stream: TextIO | None = None,
        large: int = LARGE_FILE,
        enabled: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bars_enabled(self.stream) if enabled is None else enabled
        self.known_totals = dict(totals or {})
        self.large = large
        self._done: dict[tuple[str, str], int] = {}
        self._sizes: dict[tuple[str, str], int] = {}
        self._stage_bars: dict[str, object] = {}
        self._file_bars: dict[tuple[str, str], object] = {}

    def _bar(self, desc: str, total: int, leave: bool) -> object:
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc=desc,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            leave=leave,
            file=self.stream,
            # a terminal that reports no size (a bare pseudo-terminal) still gets bars
            ncols=min(shutil.get_terminal_size((100, 20)).columns, 160),
        )

    def __call__(self, stage: str, path: str, done: int, size: int) -> None:
        """`done` of the `size` bytes of `path` handled in `stage`."""
        if not self.enabled:
            return
        key = (stage, path)
        stage_bar = self._stage_bars.get(stage)
        if stage_bar is None:
            total = self.known_totals.get(stage, 0)
            stage_bar = self._stage_bars[stage] = self._bar(f"{stage} (total)", total, True)
        if key not in self._sizes:
            self._sizes[key] = size
            if stage not in self.known_totals:  # the total grows as files appear
                stage_bar.total = (stage_bar.total or 0) + size
                stage_bar.refresh()
            if size >= self.large:
                self._file_bars[key] = self._bar(f"{stage} {path}", size, False)
        delta = done - self._done.get(key, 0)
        self._done[key] = done
        if delta:
            stage_bar.update(delta)
            if key in self._file_bars:
                self._file_bars[key].update(delta)
        if done >= size and key in self._file_bars:
            self._file_bars.pop(key).close()

    def close(self) -> None:
        for bar in [*self._file_bars.values(), *self._stage_bars.values()]:
            bar.close()
        self._file_bars.clear()
        self._stage_bars.clear()

    def __enter__(self) -> TransferBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProgressLines:
    """Per-file progress as log lines: a file's start and end, and at most one line every
    `interval_s` seconds per file in between."""

    def __init__(
        self,
        log: Callable[[str], None],
        interval_s: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log, self.interval_s, self.clock = log, interval_s, clock
        self._last: dict[tuple[str, str], float] = {}
        self._ended: set[tuple[str, str]] = set()

    def __call__(self, stage: str, path: str, done: int, size: int) -> None:
        key = (stage, path)
        now = self.clock()
        first = key not in self._last
        last = done >= size and key not in self._ended
        if not (first or last or now - self._last[key] >= self.interval_s):
            return
        self._last[key] = now
        if last:
            self._ended.add(key)
        share = 100 if size == 0 else done * 100 // size
        self.log(f"{stage} {path}: {done:,}/{size:,} bytes ({share}%)")
