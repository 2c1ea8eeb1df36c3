"""The one reporter: a step per stage, progress while jobs run, a closing table.

In CI (the `CI` variable set) stages are folded into log groups and the live progress
bar gives way to one line per finished job.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from builder.pipeline.executor import Outcome
from builder.pipeline.schedule import Status

_STYLE = {
    Status.BUILT: "green",
    Status.REUSED: "green",
    Status.CACHED: "cyan",
    Status.FAILED: "bold red",
    Status.SKIPPED: "yellow",
}


class Reporter:
    def __init__(self, console: Console | None = None) -> None:
        # Logs and CI are not terminals; give the closing table room for wheel names.
        self.console = console or Console(highlight=False, width=None if _tty() else 220)
        self.ci = bool(os.environ.get("CI"))
        self._progress: Progress | None = None
        self._task: object = None

    @contextmanager
    def stage(self, title: str) -> Iterator[None]:
        if self.ci and os.environ.get("GITHUB_ACTIONS"):
            print(f"::group::{title}", flush=True)
        self.console.print(f"[bold]==> {title}[/bold]")
        try:
            yield
        finally:
            if self.ci and os.environ.get("GITHUB_ACTIONS"):
                print("::endgroup::", flush=True)

    @contextmanager
    def jobs(self, total: int) -> Iterator[None]:
        if self.ci or not self.console.is_terminal:
            yield
            return
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as progress:
            self._progress = progress
            self._task = progress.add_task("jobs", total=total)
            try:
                yield
            finally:
                self._progress = None

    def outcome(self, outcome: Outcome) -> None:
        style = _STYLE[outcome.status]
        self.console.print(
            f"  [{style}]{outcome.status:>7}[/{style}] {outcome.job.key}"
            + (f" {outcome.seconds:6.1f}s" if outcome.seconds else "")
            + (f"  {outcome.wheel}" if outcome.wheel else "")
        )
        if outcome.status is Status.FAILED:
            self.console.print(_indent(outcome.message), markup=False, highlight=False)
            if outcome.log:
                self.console.print(f"    log: {outcome.log}", markup=False)
        if self._progress is not None:
            self._progress.advance(self._task)  # type: ignore[arg-type]

    def table(self, outcomes: list[Outcome], unbuildable: dict[str, str], root: Path) -> None:
        table = Table(title="jobs", show_lines=False)
        for column in ("project", "platform", "status", "time", "wheel", "sha256", "log"):
            table.add_column(column, overflow="fold")
        for o in sorted(outcomes, key=lambda o: (o.job.recipe.name, o.job.platform.id)):
            style = _STYLE[o.status]
            log = (
                str(o.log.relative_to(root))
                if o.log and o.log.is_relative_to(root)
                else (str(o.log) if o.log else "")
            )
            table.add_row(
                o.job.recipe.name,
                o.job.platform.id,
                f"[{style}]{o.status}[/{style}]",
                f"{o.seconds:.1f}s" if o.seconds else "",
                o.wheel,
                o.sha256[:16],
                log,
            )
        self.console.print(table)
        counts = Counter(o.status for o in outcomes)
        summary = ", ".join(f"{counts[s]} {s}" for s in Status if counts[s])
        self.console.print(f"{len(outcomes)} jobs: {summary or 'none'}")
        for platform_id, why in sorted(unbuildable.items()):
            self.console.print(f"  not buildable here: {platform_id} ({why})")


def _tty() -> bool:
    import sys

    return sys.stdout.isatty()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
